"""``auxeira infra package``: reproducible release artifacts for Lambda and Glue.

``release`` builds a release; ``zips`` writes reproducible zips; ``sources`` and
``dependencies`` decide what goes in; ``glue_modules`` pins what the Glue jobs import.
"""

__all__: list[str] = []

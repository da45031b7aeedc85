"""The Auxeira pipeline's own layers beside the design card's folders.

``auxeira.runtime`` is the shared runtime every deployable runs on, ``auxeira.operations``
the on-call and developer workflows, ``auxeira.cli`` the ``auxeira`` command. This
module imports nothing: each subpackage sits in its own layer (see the README's layout).
"""

__all__: list[str] = []

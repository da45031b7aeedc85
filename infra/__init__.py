"""Infrastructure: CloudFormation templates, packaging and the local emulator stack."""

__all__: list[str] = []

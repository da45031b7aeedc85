"""Wire formats: DynamoDB AttributeValues and KPL record aggregation (pure)."""

__all__ = ["dynamodb", "kpl"]

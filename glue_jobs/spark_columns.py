"""The rules of :mod:`glue_jobs.values` as Spark expressions, on the texts of ``after``.

Spark reads ``after`` as ``map<string,string>`` (one JSON parse per line; each value's
text: a string as itself, anything else as JSON). Every column is computed from its
text, and every row for which an expression cannot be *sure* it gives what the
reference would is marked **lost**: an unknown attribute (``_extra`` is needed), a
value that does not fit, and the texts the map view makes ambiguous (a text starting
with ``{`` or ``[``: an object or a string that looks like one; a Java-formatted float
``1.0E7`` where Python writes ``10000000.0``). Lost rows are computed by the reference
itself (a Python UDF), so both engines give the same rows; on real data they are rare.

pyspark is imported inside the functions: importing this module needs no JVM.
"""

from __future__ import annotations

from typing import Any

from glue_jobs.columns import Column, ColumnType
from glue_jobs.pii import Tokenizer
from glue_jobs.values import DATE, ISO_TIMESTAMP, JSON_NUMBER

__all__ = ["JAVA_EXPONENT", "ColumnBuilder", "hmac_expr", "scalar_expr", "spark_type", "unknown_keys", "utc_timestamp"]

#: A float as Java prints it with an exponent (Python prints those differently).
JAVA_EXPONENT = r"^-?[0-9]+\.[0-9]+E-?[0-9]+$"
_NUMBER_TAG = r'^\{"\$n":"(.*)"\}$'
_SEP = "\u0001"
#: A member of joined string members that starts with ``{`` or ``[`` or is a Java exponent float.
_AMBIGUOUS_MEMBER = f"(^|{_SEP})([\\[{{]|-?[0-9]+\\.[0-9]+E-?[0-9]+({_SEP}|$))"


def _anchored(pattern: Any) -> str:
    return f"^(?:{pattern.pattern})$"


def spark_type(kind: ColumnType) -> Any:
    """The Spark type of a lake column type."""
    from pyspark.sql import types as T

    simple = {
        "string": T.StringType(),
        "json": T.StringType(),
        "bigint": T.LongType(),
        "double": T.DoubleType(),
        "boolean": T.BooleanType(),
        "timestamp": T.TimestampNTZType(),
        "date": T.DateType(),
        "map": T.MapType(T.StringType(), T.StringType()),
    }
    if kind.kind in simple:
        return simple[kind.kind]
    if kind.kind == "decimal":
        return T.DecimalType(kind.precision, kind.scale)
    if kind.kind == "array":
        assert kind.element is not None
        return T.ArrayType(spark_type(kind.element))
    return T.StructType([T.StructField(f.name, spark_type(f.type)) for f in kind.fields])


def hmac_expr(text: Any, tokenizer: Tokenizer) -> Any:
    """HMAC-SHA256 of a string column, hex: ``sha256(K^opad || sha256(K^ipad || text))``."""
    from pyspark.sql import functions as F

    inner, outer = tokenizer.pads()
    digest = F.unhex(F.sha2(F.concat(F.lit(inner), F.encode(text, "UTF-8")), 256))
    return F.sha2(F.concat(F.lit(outer), digest), 256)


def utc_timestamp(text: Any) -> Any:
    """An ISO 8601 text (matched beforehand) as its UTC wall clock (``timestamp_ntz``).

    A text in UTC (no offset, ``Z``, ``+00:00``) is cast directly, which ignores its zone;
    only another offset goes through ``to_timestamp``, which resolves the text's zone by
    compiling a regex per row (``SparkDateTimeUtils.getZoneId``: a tenth of a run's time
    when every timestamp went that way).
    """
    from pyspark.sql import functions as F

    offset = F.substring(text, -6, 1).isin("+", "-") & (F.substring(text, -5, 5) != "00:00")
    return F.when(offset, F.to_timestamp(text).cast("timestamp_ntz")).otherwise(text.cast("timestamp_ntz"))


def _ambiguous(text: Any) -> Any:
    return text.startswith("{") | text.startswith("[") | text.rlike(JAVA_EXPONENT)


class ColumnBuilder:
    """Builds one table's column expressions; each nested JSON text is parsed once.

    An expression tree that repeats ``from_json(text)`` for every field it reads parses
    the text that many times per row (a startup's structs made 1,100 parses). So each
    struct, array and pii map is parsed into a named column of its own, in stages by
    depth (:meth:`stages`), and the column expressions read those names; Spark does not
    inline a non-trivial expression that is referenced more than once.
    """

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self._stages: list[list[Any]] = []

    def stages(self) -> list[list[Any]]:
        """The parse columns to add, stage by stage, before the column expressions run."""
        return self._stages

    def _parsed(self, text: Any, schema: Any, depth: int) -> Any:
        from pyspark.sql import functions as F

        while len(self._stages) <= depth:
            self._stages.append([])
        name = f"__parsed_{sum(map(len, self._stages))}"
        self._stages[depth].append(F.from_json(text, schema).alias(name))
        return F.col(name)

    def column(self, column: Column, text: Any, depth: int = 0) -> tuple[Any, Any]:
        """``(value, lost)`` of one column from its text (a string column, null when absent)."""
        from pyspark.sql import functions as F

        present = text.isNotNull()
        if column.pii and column.type.kind == "map":
            parsed = self._parsed(text, spark_type(column.type), depth)
            token = self.tokenizer
            value = F.transform_values(parsed, lambda _k, v: F.when(v.isNotNull(), hmac_expr(v, token)))
            bad_member = F.exists(F.map_values(parsed), lambda v: v.isNotNull() & _ambiguous(v))
            return value, present & (~text.startswith("{") | parsed.isNull() | bad_member)
        if column.pii:
            return hmac_expr(text, self.tokenizer), present & _ambiguous(text)
        if column.type.kind == "struct":
            return self._struct(column.type, text, depth)
        if column.type.kind == "array":
            return self._array(column.type, text, depth)
        return scalar_expr(column.type, text)

    def _struct(self, kind: ColumnType, text: Any, depth: int) -> tuple[Any, Any]:
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        present = text.isNotNull()
        parsed = self._parsed(text, T.MapType(T.StringType(), T.StringType()), depth)
        lost = present & (~text.startswith("{") | parsed.isNull())
        lost = lost | unknown_keys(parsed, [f.name for f in kind.fields] + sorted(kind.ignored))
        values = []
        for field in kind.fields:
            value, field_lost = self.column(field, parsed.getItem(field.name), depth + 1)
            values.append(value.cast(spark_type(field.type)).alias(field.name))
            lost = lost | F.coalesce(field_lost, F.lit(False))
        return F.when(present, F.struct(*values)), lost

    def _array(self, kind: ColumnType, text: Any, depth: int) -> tuple[Any, Any]:
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        assert kind.element is not None
        element = kind.element
        present = text.isNotNull()
        parsed = self._parsed(text, T.ArrayType(T.StringType()), depth)
        if element.kind == "string":
            # A string member is itself; it is ambiguous as a string scalar is. Checked on the
            # members joined (code-generated) rather than with a lambda (interpreted): a member
            # holding the separator can only be marked lost too often, never too rarely.
            joined = F.array_join(parsed, _SEP, "")
            return parsed, present & (~text.startswith("[") | parsed.isNull() | joined.rlike(_AMBIGUOUS_MEMBER))
        bad = F.exists(parsed, lambda x: F.coalesce(scalar_expr(element, x)[1], F.lit(False)))
        value = F.transform(parsed, lambda x: scalar_expr(element, x)[0])
        return value, present & (~text.startswith("[") | parsed.isNull() | bad)


def scalar_expr(kind: ColumnType, text: Any) -> tuple[Any, Any]:
    """``(value, lost)`` of a scalar (or free-form JSON) column from its text."""
    from pyspark.sql import functions as F

    present = text.isNotNull()
    if kind.kind == "json":
        return text, present & ~(text.startswith("{") | text.startswith("["))
    if kind.kind == "string":
        return text, present & _ambiguous(text)
    if kind.kind == "bigint":
        value = text.cast("bigint")
        return value, present & (value.isNull() | (value.cast("string") != text))
    if kind.kind in ("double", "decimal"):
        number = F.when(text.startswith('{"$n":'), F.regexp_extract(text, _NUMBER_TAG, 1)).otherwise(text)
        value = number.cast(spark_type(kind))
        return value, present & (~number.rlike(_anchored(JSON_NUMBER)) | value.isNull())
    if kind.kind == "boolean":
        value = F.when(text == "true", F.lit(True)).when(text == "false", F.lit(False))
        return value, present & value.isNull()
    if kind.kind == "timestamp":
        ok = text.rlike(_anchored(ISO_TIMESTAMP))
        value = F.when(ok, utc_timestamp(text))
        return value, present & value.isNull()
    if kind.kind == "date":
        value = F.when(text.rlike(_anchored(DATE)), text.cast("date"))
        return value, present & value.isNull()
    raise ValueError(f"no Spark rule for {kind.kind}")


def unknown_keys(parsed_map: Any, known: list[str]) -> Any:
    """True when the map has a key outside ``known``."""
    from pyspark.sql import functions as F

    allowed = F.array(*[F.lit(k) for k in known]) if known else F.array().cast("array<string>")
    # array_except is code-generated; a lambda (``exists``) is interpreted row by row.
    return F.coalesce(F.size(F.array_except(F.map_keys(parsed_map), allowed)) > 0, F.lit(False))

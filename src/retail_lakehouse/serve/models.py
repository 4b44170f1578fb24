"""Response models: the typed contract the OpenAPI schema publishes.

Money is served as a JSON number (decimal(18,4) in the lake; every value fits a double exactly
to the cent), so clients and the dashboard need no decimal parsing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

RowT = TypeVar("RowT")


class _Model(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def described_by(table: str) -> ConfigDict:
    """Model config whose JSON schema takes the table's description, and each field without a
    description of its own the column's, from the lake contracts (written once, there)."""

    def describe(schema: dict[str, Any]) -> None:
        from retail_lakehouse.lake.contracts import contract

        target = contract(table)
        if target.description:
            schema.setdefault("description", target.description)
        for name, prop in schema.get("properties", {}).items():
            text = target.column_description(name)
            if text and isinstance(prop, dict):
                prop.setdefault("description", text)

    return ConfigDict(from_attributes=True, json_schema_extra=describe)


class _Body(BaseModel):
    """A request body: unknown fields and loosely typed values (``"yes"`` for a boolean) are a
    422, never silently ignored or coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


# -- health and auth ---------------------------------------------------------------------------
class SnapshotInfo(_Model):
    id: str = Field(description="Changes whenever the served data changes.")
    built_at: datetime
    build_seconds: float
    age_seconds: float
    versions: dict[str, int | None] = Field(description="Delta version served, per table.")


class Health(_Model):
    status: Literal["ok", "degraded"]
    version: str
    snapshot: SnapshotInfo
    refresh_error: str | None = None
    jobs_queued: int
    job_running: str | None


class Token(_Model):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class Me(_Model):
    key_id: str
    name: str
    role: Literal["viewer", "analyst", "admin"]


# -- sales ------------------------------------------------------------------------------------
class Kpis(_Model):
    gross_revenue: float = Field(description="Sum of mart_daily_sales.gross_revenue.")
    returns_amount: float
    net_revenue: float
    orders: int = Field(description="Distinct invoices with sale lines in the period.")
    customers: int = Field(description="Distinct identified customers who bought in the period.")
    units: int
    avg_order_value: float | None = Field(description="gross_revenue / orders; null if no orders.")


class DailySales(_Model):
    model_config = described_by("gold.mart_daily_sales")

    sale_date: date
    country: str | None = Field(description="Null when rows are totals over countries.")
    gross_revenue: float
    returns_amount: float
    net_revenue: float
    orders: int
    customers: int
    units: int
    avg_order_value: float | None
    gross_revenue_dod_pct: float | None = None
    gross_revenue_7d_avg: float | None = None


class MonthlySales(_Model):
    model_config = described_by("gold.mart_daily_sales")

    month: date = Field(description="First day of the month.")
    country: str | None
    gross_revenue: float
    returns_amount: float
    net_revenue: float
    orders: int
    customers: int
    units: int
    avg_order_value: float | None


class CountrySales(_Model):
    model_config = described_by("gold.mart_daily_sales")

    country: str
    gross_revenue: float
    returns_amount: float
    net_revenue: float
    orders: int
    customers: int
    units: int
    revenue_share: float = Field(description="Share of the period's gross revenue, 0-1.")


class Country(_Model):
    model_config = described_by("gold.dim_country")

    country: str
    iso2: str | None
    iso3: str | None
    region: str | None
    continent: str | None
    currency: str | None
    is_eu_member: bool | None


class Page(_Model, Generic[RowT]):
    rows: list[RowT]
    page: int
    page_size: int
    total_rows: int
    total_pages: int
    sort: str | None = None


# -- customers --------------------------------------------------------------------------------
class Segment(_Model):
    segment: str
    customers: int
    share: float = Field(description="Share of all customers, 0-1.")
    monetary: float
    avg_recency_days: float | None
    avg_frequency: float | None
    avg_monetary: float | None


class Segments(_Model):
    as_of_date: date | None
    total_customers: int
    segments: list[Segment]


class CustomerRfm(_Model):
    model_config = described_by("gold.mart_customer_rfm")

    customer_id: str
    country: str | None
    first_purchase: datetime | None
    last_purchase: datetime | None
    recency_days: int | None
    frequency: int | None
    monetary: float | None
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_segment: str | None
    lifetime_value: float | None
    as_of_date: date | None


class CustomerVersion(_Model):
    model_config = described_by("gold.dim_customer")

    customer_key: str
    country: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    is_current: bool | None
    version: int | None
    first_purchase: datetime | None
    last_purchase: datetime | None


class Customer(_Model):
    customer_id: str
    rfm: CustomerRfm | None = Field(description="Null when the customer has no sales to score.")
    history: list[CustomerVersion] = Field(description="SCD2 versions, oldest first.")


# -- products and cohorts ---------------------------------------------------------------------
class TopProduct(_Model):
    model_config = described_by("gold.mart_product_performance")

    rank: int
    stock_code: str
    description: str | None
    category: str | None
    revenue: float
    units: int
    orders: int
    return_rate: float | None = Field(description="Only for a single month.")


class TopProducts(_Model):
    metric: Literal["revenue", "units"]
    month: str | None
    products: list[TopProduct]


class ProductHit(_Model):
    stock_code: str
    description: str
    category: str | None
    is_non_product: bool
    score: float = Field(description="Relevance 0-100.")


class ProductSearch(_Model):
    query: str | None
    category: str | None
    results: list[ProductHit]


class Cohort(_Model):
    model_config = described_by("gold.mart_cohort_retention")

    cohort_month: date
    months_since: int
    cohort_size: int
    active_customers: int
    retention: float


# -- quality ----------------------------------------------------------------------------------
class ScorePart(_Model):
    scope: str
    name: str
    score: float
    grade: str | None
    lines_checked: int


class RuleResult(_Model):
    rule: str
    dimension: str
    action: str
    weight: float | None
    lines_checked: int
    lines_failed: int
    score: float


class QualityLatest(_Model):
    run_id: str | None
    table_name: str | None
    computed_at: datetime | None
    overall: float | None
    grade: str | None
    dimensions: list[ScorePart]
    rules: list[RuleResult]


class QualityRun(_Model):
    run_id: str
    table_name: str
    computed_at: datetime
    overall: float | None
    grade: str | None
    lines_checked: int | None
    dimensions: dict[str, float]


class QualityHistory(_Model):
    runs: list[QualityRun]


class QualityPoint(_Model):
    run_id: str
    computed_at: datetime
    score: float = Field(description="The run's score: mean line score of the lines it checked.")
    grade: str | None
    lines_checked: int = Field(description="Lines the run checked (its weight in the trend).")
    weighted_score: float = Field(
        description="Mean of the run scores so far, each weighted by its lines checked."
    )


class LakeScoreOut(_Model):
    score: float | None = Field(
        description="Mean line quality score over every line silver holds now (kept and "
        "quarantined); null before the first run."
    )
    grade: str | None
    lines: int


class QualityTrend(_Model):
    points: list[QualityPoint]
    current: LakeScoreOut = Field(description="The lake's score now, beside the per-run ones.")


class RejectedLineOut(_Model):
    source_file: str
    line_number: int | None
    reason: str
    raw_line: str | None = Field(description="The line as read (first 200 characters).")


class Rejects(_Model):
    lines: int = Field(description="Source lines rejected at ingest (never reach silver).")
    reasons: dict[str, int]
    examples: list[RejectedLineOut]


class QuarantineLine(_Model):
    model_config = described_by("silver.quarantine")

    invoice_no: str | None
    stock_code: str | None
    description: str | None
    quantity: int | None
    unit_price: float | None
    invoice_ts: datetime | None
    customer_id: str | None
    country: str | None
    quarantine_reasons: list[str]
    raw_quantity: str | None
    raw_unit_price: str | None
    raw_invoice_date: str | None
    raw_country: str | None
    source_file: str | None
    row_number: int | None
    batch_id: str | None


class QuarantinePage(Page[QuarantineLine]):
    by_rule: dict[str, int] = Field(description="Quarantined lines per rule (whole table).")


# -- operations -------------------------------------------------------------------------------
class JobOut(_Model):
    id: str
    kind: Literal["run", "ingest"]
    status: Literal["queued", "running", "succeeded", "failed"]
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    reason: str | None = Field(description="Why it failed.")
    detail: dict[str, Any] | None = Field(description="What the job reported when it finished.")
    status_url: str


class RunRequest(_Body):
    full_refresh: bool = Field(default=False, description="Rebuild silver and gold from bronze.")


class Upload(_Model):
    file: str = Field(description="Name the file was stored under in landing/.")
    size_bytes: int
    duplicate: bool = Field(
        default=False,
        description="Its content was already ingested: skipped, and removed from landing/.",
    )
    job: JobOut


class KeyInfo(_Model):
    key_id: str
    name: str
    role: Literal["viewer", "analyst", "admin"]
    created_at: str
    revoked_at: str | None


class NewKey(KeyInfo):
    api_key: str = Field(description="Shown once; only a salted hash is stored.")


class KeyRequest(_Body):
    role: Literal["viewer", "analyst", "admin"]
    name: str | None = Field(default=None, max_length=64)


class ErrorOut(_Model):
    detail: Any

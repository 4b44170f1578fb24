"""The business marts, each a function of ``gold.fact_sales`` (and dimensions)."""

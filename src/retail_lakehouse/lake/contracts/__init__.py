"""Every lake table's contract, defined once (see :mod:`.base`)."""

from retail_lakehouse.lake.contracts.base import (
    LOCAL_TS,
    MONEY,
    PRICE,
    STR,
    TS,
    TableContract,
    contract,
    contracts,
    register,
)

__all__ = [
    "LOCAL_TS",
    "MONEY",
    "PRICE",
    "STR",
    "TS",
    "TableContract",
    "contract",
    "contracts",
    "register",
]

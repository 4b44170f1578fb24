# ruff: noqa: E501  (a throwaway measurement tool, decision 0011 point 48)
import resource
import time

import duckdb

RAW = (
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "unit_price",
    "customer_id",
    "country",
)
HEADER = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
F = "/tmp/fl16/F.csv"
cols = ", ".join(f'coalesce("{h}", \'\') AS "{c}"' for h, c in zip(HEADER, RAW, strict=False))
parts = ", ".join(f"coalesce(\"{c}\", '\\N')" for c in RAW)
lin = "'F.csv' AS _source_file, 'sha' AS _source_sha256, 'b000002' AS _batch_id, 2::BIGINT AS _batch_seq, now() AS _ingested_at, 1 AS _schema_version"
V = {
    "bare": f"SELECT * FROM read_csv('{F}', all_varchar = true)",
    "+coalesce,lineage": f"SELECT *, {lin} FROM (SELECT {cols} FROM read_csv('{F}', all_varchar = true, header = true))",
    "+md5": f"SELECT *, {lin}, md5(concat_ws(chr(31), {parts})) AS _record_hash FROM (SELECT {cols} FROM read_csv('{F}', all_varchar = true, header = true))",
    "+md5,ordinality": f"SELECT *, {lin}, ordinality::BIGINT + 1 AS _row_number, md5(concat_ws(chr(31), {parts})) AS _record_hash FROM (SELECT {cols}, ordinality FROM read_csv('{F}', all_varchar = true, header = true) WITH ORDINALITY)",
    "+md5,row_number": f"SELECT *, {lin}, (row_number() OVER ())::BIGINT + 1 AS _row_number, md5(concat_ws(chr(31), {parts})) AS _record_hash FROM (SELECT {cols} FROM read_csv('{F}', all_varchar = true, header = true))",
}


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


res = {k: [] for k in V}
for _rnd in range(3):
    for k, q in V.items():
        con = duckdb.connect()
        con.execute("SET preserve_insertion_order = false")
        c0, w0 = cpu(), time.perf_counter()
        con.execute(
            f"COPY ({q}) TO '/tmp/fl16/ip.parquet' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 131072)"
        )
        res[k].append((time.perf_counter() - w0, cpu() - c0))
        con.close()
for k, v in res.items():
    print(f"{k:20} wall {sorted(x[0] for x in v)}  CPU {sorted(round(x[1], 3) for x in v)}")

# ruff: noqa: E501, SIM115  (a throwaway measurement tool, decision 0011 point 48)
import collections
import statistics as st
import sys

d = collections.defaultdict(list)
loads = []
for line in open(sys.argv[1]):
    p = line.split()
    if line.startswith("#"):
        if "load" in p:
            loads.append(float(p[p.index("load") + 1]))
        continue
    if p[0] == "FAIL" or len(p) < 5:
        print(line.strip())
        continue
    d[p[0]].append((float(p[1]), float(p[2]) + float(p[3]), int(p[4]) // 1024))
print(f"load (1-min) {min(loads):.2f}-{max(loads):.2f}")
for k, v in d.items():
    w = [x[0] for x in v]
    c = [x[1] for x in v]
    print(
        f"{k:14} n={len(v)} wall med {st.median(w):.3f} ({min(w):.2f}-{max(w):.2f})  CPU med {st.median(c):.3f} ({min(c):.2f}-{max(c):.2f})  RSS {max(x[2] for x in v)} MB"
    )

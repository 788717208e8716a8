"""pandas peer for bench/profile_vs_pandas.sh: pd.read_csv(FILE) then df.describe().

Prints one line `read_s=… describe_s=… total_s=… rows=… cols=…`; the calling script takes
peak RSS of this whole process from /usr/bin/time -v. Imports are outside the timed region.
"""
import sys
import time

import pandas as pd

path = sys.argv[1]
t0 = time.perf_counter()
df = pd.read_csv(path)
t1 = time.perf_counter()
desc = df.describe()
t2 = time.perf_counter()
assert desc.shape[1] == df.shape[1], desc.shape
print(
    f"read_s={t1 - t0:.3f} describe_s={t2 - t1:.3f} total_s={t2 - t0:.3f} "
    f"rows={df.shape[0]} cols={df.shape[1]} pandas={pd.__version__}"
)

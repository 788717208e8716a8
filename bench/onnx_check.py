"""Runs a model exported by `whet export --onnx` in onnxruntime on a CSV file and compares it
with `whet predict --proba` on the same file.

usage: onnx_check.py MODEL.onnx DATA.csv PREDICTIONS.csv [--latency N]

Prints one JSON object: rows, label mismatches, the largest absolute probability difference
(classifiers) or relative value difference (regression), and with --latency the median and
p99 of N single-row runs in microseconds. Used by crates/whet/tests/cli_export.rs and
bench/onnx_vs_predict.sh.
"""

import json
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd

# whet's default missing-value tokens (whet_data::csv::DEFAULT_NA_VALUES).
NA = ["", "NA", "N/A", "null", "NULL", "NaN", "?"]


def feeds_for(model, frame):
    feeds = {}
    for inp in model.graph.input:
        name = inp.name
        elem = inp.type.tensor_type.elem_type
        col = frame[name]
        if elem == onnx.TensorProto.STRING:
            values = np.array([("" if v is None else v) for v in col], dtype=object)
        elif "milliseconds" in inp.doc_string:
            ts = pd.to_datetime(col, utc=True, format="mixed")
            ms = (ts - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(milliseconds=1)
            values = ms.astype("float64").to_numpy()
        else:
            lowered = col.map(lambda v: v.strip().lower() if isinstance(v, str) else v)
            booleans = {"true": 1.0, "false": 0.0, "t": 1.0, "f": 0.0, "yes": 1.0, "no": 0.0}
            values = np.array(
                [
                    np.nan
                    if v is None
                    else booleans.get(v, None) if isinstance(v, str) and v in booleans else float(v)
                    for v in lowered
                ],
                dtype=np.float64,
            )
        feeds[name] = values.reshape(-1, 1)
    return feeds


def main():
    args = sys.argv[1:]
    latency = 0
    if "--latency" in args:
        i = args.index("--latency")
        latency = int(args[i + 1])
        del args[i : i + 2]
    model_path, data_path, pred_path = args
    model = onnx.load(model_path)
    frame = pd.read_csv(data_path, dtype=str, keep_default_na=False)
    frame = frame.map(lambda v: None if v in NA else v)
    feeds = feeds_for(model, frame)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    out = dict(zip(names, session.run(None, feeds)))
    whet = pd.read_csv(pred_path, dtype={"prediction": str}, keep_default_na=False)
    result = {"rows": int(len(frame))}
    if "variable" in out:
        got = out["variable"][:, 0]
        want = whet["prediction"].astype(float).to_numpy()
        scale = np.maximum(np.abs(want), 1e-12)
        result["max_rel_diff"] = float(np.max(np.abs(got - want) / scale))
        result["max_abs_diff"] = float(np.max(np.abs(got - want)))
    else:
        probs = out["probabilities"]
        cols = [c for c in whet.columns if c.startswith("proba_")]
        want = whet[cols].astype(float).to_numpy()
        result["max_abs_diff"] = float(np.max(np.abs(probs - want)))
        labels = np.asarray(out["label"]).astype(str)
        result["label_mismatches"] = int(np.sum(labels != whet["prediction"].astype(str).to_numpy()))
    if latency:
        row = {k: v[:1] for k, v in feeds.items()}
        for _ in range(min(latency, 100)):
            session.run(None, row)
        times = []
        for _ in range(latency):
            t = time.perf_counter()
            session.run(None, row)
            times.append((time.perf_counter() - t) * 1e6)
        result["latency_us_p50"] = float(np.percentile(times, 50))
        result["latency_us_p99"] = float(np.percentile(times, 99))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

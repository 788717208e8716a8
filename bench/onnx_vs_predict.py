"""`whet export --onnx` against `whet predict` on the shared datasets' test splits.

For each dataset in ../shared/datasets/MANIFEST.tsv (by default those up to --max-rows rows):
the 80/20 split of ../shared/peers/reference.py (via automl_vs_flaml.split), `whet train
--trials N --seed 0 --learners gbdt,rf,et,linear` on the train part (text columns ignored: hashed
text has no exact ONNX form), `whet export --onnx`, then `whet predict --proba` and onnxruntime
(onnx_check.py) on the test part. Prints a markdown row per dataset: the largest probability
difference (absolute) or value difference (relative), label mismatches, and onnxruntime's
single-row latency (one thread, median and p99 of 1,000 runs).
"""

import argparse
import os
import subprocess
import sys
import json

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import automl_vs_flaml as av  # noqa: E402  (split, write_raw_split; imports reference.py)

OUT = os.path.join(HERE, "data", "onnx")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--whet", default=os.path.join(av.ROOT, "target", "release", "whet"))
    p.add_argument("--data", default=os.path.join(av.SHARED, "datasets"))
    p.add_argument("--datasets", default="")
    p.add_argument("--max-rows", type=int, default=20000)
    p.add_argument("--trials", type=int, default=4)
    a = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    a.whet = os.path.abspath(a.whet)
    a.data = os.path.abspath(a.data)
    os.chdir(OUT)  # the store's artifacts go beside it
    av.OUT_DIR = OUT
    env = dict(os.environ, WHET_STORE=os.path.join(OUT, "whet.db"))
    man = pd.read_csv(os.path.join(a.data, "MANIFEST.tsv"), sep="\t", dtype=str, keep_default_na=False)
    wanted = [d for d in a.datasets.split(",") if d]
    print("| dataset | task | test rows | model | max diff | label mismatches | ort p50 µs | ort p99 µs |")
    print("|---|---|---|---|---|---|---|---|")
    for _, m in man.iterrows():
        name = m["file"].removesuffix(".csv")
        if wanted and name not in wanted:
            continue
        if not wanted and int(m["rows"]) > a.max_rows:
            continue
        _, _, _, _, _, _, y, itr, ite = av.split(a.data, m, 0)
        train_csv, test_csv = av.write_raw_split(a.data, m, name, y, itr, ite)
        model = os.path.join(OUT, f"{name}.whet")
        onnx_path = os.path.join(OUT, f"{name}.onnx")
        pred = os.path.join(OUT, f"{name}_pred.csv")
        cmd = [a.whet, "train", train_csv, "--target", m["target"], "--trials", str(a.trials), "--seed", "0",
               "--learners", "gbdt,rf,et,linear", "--experiment", f"onnx-{name}", "-q", "--out", model]
        ignore = [c for c in m["text_columns"].split(",") if c]
        if ignore:
            cmd += ["--types", ",".join(f"{c}=ignore" for c in ignore)]
        try:
            subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
            subprocess.run([a.whet, "export", model, "--onnx", onnx_path, "-q"], check=True, env=env,
                           capture_output=True, text=True)
            pcmd = [a.whet, "predict", model, test_csv, "-o", pred, "-q"]
            if m["task"] != "regression":
                pcmd.append("--proba")
            subprocess.run(pcmd, check=True, env=env, capture_output=True, text=True)
            r = json.loads(subprocess.run([sys.executable, os.path.join(HERE, "onnx_check.py"), onnx_path, test_csv,
                                           pred, "--latency", "1000"], check=True, capture_output=True,
                                          text=True).stdout)
        except subprocess.CalledProcessError as e:
            print(f"| {name} | {m['task']} | | error: {(e.stderr or '').strip().splitlines()[:2]} | | | | |")
            continue
        learner = onnx_learner(onnx_path)
        if m["task"] == "regression":
            diff = f"{r['max_rel_diff']:.1e} rel"
            mism = "–"
        else:
            diff = f"{r['max_abs_diff']:.1e} abs"
            mism = str(r["label_mismatches"])
        print(f"| {name} | {m['task']} | {r['rows']} | {learner} | {diff} | {mism} | "
              f"{r['latency_us_p50']:.0f} | {r['latency_us_p99']:.0f} |", flush=True)


def onnx_learner(path):
    import onnx
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    return meta.get("learner", "?")


if __name__ == "__main__":
    main()

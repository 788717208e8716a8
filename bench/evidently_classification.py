"""Evidently's classification report on the data `whet review` reviews, timed (issue 16).

Reads a CSV with the target column and a CSV of the model's probabilities (`whet predict
MODEL DATA --proba`), builds Evidently's classification preset on them (current data only, no
reference) and saves it as HTML, printing the seconds of each step. Run by
bench/review_1m.sh with a scratch venv's python (Evidently is not a whet dependency).
"""
import sys
import time

import pandas as pd


def main():
    data, proba, target, out = sys.argv[1:5]
    t0 = time.perf_counter()
    y = pd.read_csv(data, usecols=[target])[target]
    p = pd.read_csv(proba)
    col = [c for c in p.columns if c.endswith("1")][-1]
    df = pd.DataFrame({"target": y.astype(int), "prediction": p[col].astype(float)})
    t_read = time.perf_counter() - t0
    import evidently

    t1 = time.perf_counter()
    try:
        # Evidently 0.7+
        from evidently import BinaryClassification, DataDefinition, Dataset, Report
        from evidently.presets import ClassificationPreset

        definition = DataDefinition(
            classification=[
                BinaryClassification(
                    target="target", prediction_probas="prediction", pos_label=1
                )
            ]
        )
        ds = Dataset.from_pandas(df, data_definition=definition)
        report = Report([ClassificationPreset()])
        result = report.run(current_data=ds, reference_data=None)
        t_run = time.perf_counter() - t1
        t2 = time.perf_counter()
        result.save_html(out)
    except ImportError:
        # Evidently 0.4-0.6
        from evidently import ColumnMapping
        from evidently.metric_preset import ClassificationPreset
        from evidently.report import Report

        report = Report(metrics=[ClassificationPreset()])
        report.run(
            reference_data=None,
            current_data=df,
            column_mapping=ColumnMapping(target="target", prediction="prediction"),
        )
        t_run = time.perf_counter() - t1
        t2 = time.perf_counter()
        report.save_html(out)
    t_html = time.perf_counter() - t2
    print(
        f"evidently {evidently.__version__}: rows {len(df)}, read {t_read:.1f} s, "
        f"report {t_run:.1f} s, html {t_html:.1f} s, report+html {t_run + t_html:.1f} s"
    )


if __name__ == "__main__":
    main()

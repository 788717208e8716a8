"""LightGBM side of the quick higgs check: fit (Dataset construction + train) and predict on one CSV.
Usage: ~/.cache/whet-peers/bin/python bench/lgb_speed.py FILE TARGET ROUNDS"""
import sys, time, numpy as np, pandas as pd, lightgbm as lgb
df = pd.read_csv(sys.argv[1]); y = df.pop(sys.argv[2]).values; X = df.values.astype(np.float32)
rounds = int(sys.argv[3])
t=time.time(); ds = lgb.Dataset(X, y, params={"max_bin":255}).construct(); tb=time.time()-t
t=time.time()
m = lgb.train({"objective":"binary","num_leaves":31,"learning_rate":0.1,"max_bin":255,"num_threads":2,"verbose":-1,"min_data_in_leaf":20}, ds, num_boost_round=rounds)
tf=time.time()-t
t=time.time(); p = m.predict(X, num_threads=2); tp=time.time()-t
from sklearn.metrics import roc_auc_score
print(f"lgb construct {tb:.3f}s train {tf:.3f}s predict {tp:.3f}s auc {roc_auc_score(y,p):.5f}")

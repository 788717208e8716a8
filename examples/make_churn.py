"""Writes examples/churn.csv: a small synthetic customer-churn table exercising every column
role whet knows (id, numeric, boolean, low/high-cardinality categorical, datetime, free text,
missing values). Deterministic; the committed CSV is its output (python3 make_churn.py)."""
import csv
import math
import random
from datetime import date, timedelta

rng = random.Random(7)
plans = ["basic", "standard", "premium"]
regions = ["north", "south", "east", "west", "central"]
cities = [f"city_{i:03d}" for i in range(120)]
words_good = ["great", "fast", "helpful", "love", "reliable", "cheap"]
words_bad = ["slow", "expensive", "broken", "cancel", "rude", "outage"]
start = date(2021, 1, 1)

rows = []
for i in range(2000):
    plan = rng.choices(plans, weights=[5, 3, 2])[0]
    tenure = max(1, int(rng.expovariate(1 / 24)))
    monthly = {"basic": 20, "standard": 45, "premium": 80}[plan] + rng.gauss(0, 6)
    tickets = min(12, int(rng.expovariate(1 / 1.5)))
    autopay = rng.random() < 0.6
    age = None if rng.random() < 0.08 else int(rng.uniform(18, 80))
    signup = start + timedelta(days=rng.randrange(0, 1000))
    z = -1.2 + 0.35 * tickets - 0.04 * tenure + 0.015 * (monthly - 45) - 0.8 * autopay
    churn = rng.random() < 1 / (1 + math.exp(-z))
    mood = words_bad if churn and rng.random() < 0.7 else words_good
    comment = "" if rng.random() < 0.3 else " ".join(rng.choice(mood) for _ in range(rng.randint(3, 8)))
    rows.append({
        "customer_id": f"C{100000 + i}",
        "signup_date": signup.isoformat(),
        "plan": plan,
        "region": rng.choice(regions),
        "city": rng.choice(cities),
        "age": "" if age is None else age,
        "tenure_months": tenure,
        "monthly_charges": round(monthly, 2),
        "support_tickets": tickets,
        "autopay": "yes" if autopay else "no",
        "last_comment": comment,
        "churned": "yes" if churn else "no",
    })

with open("churn.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)

"""Discrete-event model of a distributed study's fold queue: how the order folds are handed out
changes wall time and wasted folds, with no machine effects (no shared cores, no database CPU).

The search consumes trial k's folds in order, decides after fold 0 whether to prune (cancelling
the rest; folds already running are wasted), and proposes trial k+2 when trial k ends (one
trial ahead, as crates/whet-automl/src/search.rs). Each consumption costs the submitter
--latency-ms. Policies:
  fifo        every fold of a trial queued when proposed, oldest first (what whet does)
  fold0first  the same, but a queued fold 0 is handed out before later folds
  gate_ahead  the trial proposed ahead queues only fold 0; its others when it becomes current
  gate_all    every trial queues fold 0 first, the rest once fold 0 is consumed and not pruned

  python3 bench/queue_sim.py [--trials 200] [--p-prune 0.18] [--fold-ms 60] [--latency-ms 5]

Defaults mimic bench/workers.sh on breast_cancer (about 18% of trials pruned after one fold;
60 ms folds): the model wastes one fold per pruned trial with one worker and two with two, 36
more folds with two workers, as measured there (972 folds against 937).
"""
import argparse
import heapq
import random
import statistics

FOLDS = 5


def simulate(policy, workers, trials, p_prune, fold_s, latency_s, seed):
    rng = random.Random(seed)
    pruned = [rng.random() < p_prune for _ in range(trials + 2)]
    duration = {(t, f): fold_s * rng.lognormvariate(0, 0.15) for t in range(trials + 2) for f in range(FOLDS)}
    queue, held, state, finished = [], {}, {}, {}
    order = iter(range(10**9))

    def enqueue(t, f):
        state[(t, f)] = "queued"
        queue.append((next(order), t, f))

    def propose(t, ahead):
        if t >= trials:
            return
        gate = policy == "gate_all" or (policy == "gate_ahead" and ahead)
        enqueue(t, 0)
        if gate:
            held[t] = list(range(1, FOLDS))
        else:
            for f in range(1, FOLDS):
                enqueue(t, f)

    def release(t):
        for f in held.pop(t, []):
            enqueue(t, f)

    def next_task():
        ready = [q for q in queue if state[(q[1], q[2])] == "queued"]
        if not ready:
            return None
        pick = min(ready, key=lambda q: (q[2] > 0, q[0])) if policy == "fold0first" else min(ready)
        queue.remove(pick)
        return pick

    now, free, running = 0.0, list(range(workers)), []
    fitted = wasted = 0
    current, fold = 0, 0
    propose(0, False)
    propose(1, True)
    while current < trials:
        while free:
            task = next_task()
            if task is None:
                break
            _, t, f = task
            state[(t, f)] = "running"
            heapq.heappush(running, (now + duration[(t, f)], free.pop(), t, f))
        if state.get((current, fold)) == "done":
            now = max(now, finished[(current, fold)]) + latency_s
            if (fold == 0 and pruned[current]) or fold == FOLDS - 1:
                for f in range(fold + 1, FOLDS):
                    s = state.get((current, f))
                    state[(current, f)] = {"queued": "cancelled", "running": "wasted"}.get(s, s)
                held.pop(current, None)
                current, fold = current + 1, 0
                propose(current + 1, True)
                if policy == "gate_ahead":
                    release(current)
            else:
                fold += 1
                if policy == "gate_all" and fold == 1:
                    release(current)
            continue
        end, w, t, f = heapq.heappop(running)
        now = max(now, end)
        fitted += 1
        if state[(t, f)] == "wasted":
            wasted += 1
        else:
            state[(t, f)], finished[(t, f)] = "done", end
        free.append(w)
    return now, fitted, wasted


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--p-prune", type=float, default=0.18)
    ap.add_argument("--fold-ms", type=float, default=60)
    ap.add_argument("--latency-ms", type=float, default=5)
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args()
    print("| policy | 1 worker s (folds, wasted) | 2 workers s (folds, wasted) | 8 workers s | 2 over 1 | 8 over 1 |")
    print("|---|---|---|---|---|---|")
    for policy in ["fifo", "fold0first", "gate_ahead", "gate_all"]:
        r = {}
        for w in (1, 2, 8):
            runs = [simulate(policy, w, a.trials, a.p_prune, a.fold_ms / 1e3, a.latency_ms / 1e3, s)
                    for s in range(a.seeds)]
            r[w] = [statistics.mean(x[i] for x in runs) for i in range(3)]
        print(f"| {policy} | {r[1][0]:.2f} ({r[1][1]:.0f}, {r[1][2]:.0f}) | {r[2][0]:.2f} ({r[2][1]:.0f}, {r[2][2]:.0f}) "
              f"| {r[8][0]:.2f} | {r[1][0] / r[2][0]:.2f}× | {r[1][0] / r[8][0]:.2f}× |")


if __name__ == "__main__":
    main()

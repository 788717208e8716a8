//! The trial queue of distributed studies on PostgreSQL (WHET_TEST_POSTGRES_URL; skipped with
//! a note without it, each test in a fresh schema): claims skip what others hold, a lease that
//! runs out hands the task to the next claim and voids the late result, and data is checked
//! against its sha256; a result and the next claim go in one call (and a void result does not
//! make its own task claimable by that call); a task whose lease ran out goes before older
//! queued ones, and a queued first fold before later folds; stored results and cancelled
//! running tasks are announced; eight workers calling back to back get every task exactly
//! once. On SQLite the queue is refused with a message.

use std::io::Write;
use std::time::Duration;

use whet_track::{NewTask, QueueStudy, Store, TaskState};

fn postgres(test: &str) -> Option<Store> {
    postgres_url(test).map(|url| Store::open(&url).unwrap())
}

/// A fresh schema's URL, for tests that open several handles as separate workers do.
fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("WHET_TEST_POSTGRES_URL") {
        Ok(base) => Some(whet_track::testing::fresh_postgres_schema(&base).unwrap()),
        Err(_) => {
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {test} (WHET_TEST_POSTGRES_URL not set)"
            );
            None
        }
    }
}

fn study(store: &Store, id: &str) -> i64 {
    let exp = store.get_or_create_experiment("queue").unwrap();
    let sha = store.queue_put_data(b"x,y\n1,2\n").unwrap();
    store
        .queue_create_study(&QueueStudy {
            study_id: id.into(),
            experiment_id: exp,
            run_id: id.into(),
            recipe: "{}".into(),
            data_sha256: sha,
            state: "open".into(),
        })
        .unwrap();
    exp
}

fn tasks(n: i64) -> Vec<NewTask> {
    (0..n)
        .map(|f| NewTask {
            trial: 0,
            fold: f,
            spec: format!("fold {f}"),
        })
        .collect()
}

#[test]
fn claims_are_exclusive_and_in_queue_order() {
    let Some(store) = postgres("claims_are_exclusive_and_in_queue_order") else {
        return;
    };
    let exp = study(&store, "s1");
    let keys = store.queue_enqueue("s1", exp, &tasks(3)).unwrap();
    let lease = Duration::from_secs(30);
    let a = store.queue_claim("a", None, lease).unwrap().unwrap();
    let b = store.queue_claim("b", Some(exp), lease).unwrap().unwrap();
    let c = store.queue_claim("c", None, lease).unwrap().unwrap();
    assert_eq!((a.key, b.key, c.key), (keys[0], keys[1], keys[2]));
    assert!(store.queue_claim("d", None, lease).unwrap().is_none());
    // Another experiment's worker sees nothing of this one.
    assert!(
        store
            .queue_claim("e", Some(exp + 1), lease)
            .unwrap()
            .is_none()
    );
    assert!(store.queue_complete(a.key, a.attempt, b"result").unwrap());
    assert_eq!(
        store.queue_task_state(a.key).unwrap(),
        TaskState::Done {
            result: b"result".to_vec(),
            owner: "a".into()
        }
    );
    // Done once: the same claim cannot store a second result.
    assert!(!store.queue_complete(a.key, a.attempt, b"again").unwrap());
    // Given back with a reason, a task is queued again and claimed anew.
    assert!(
        store
            .queue_release(b.key, b.attempt, "data corrupt")
            .unwrap()
    );
    assert_eq!(
        store.queue_task_state(b.key).unwrap(),
        TaskState::Queued {
            attempts: 1,
            last_error: Some("data corrupt".into())
        }
    );
    let b2 = store.queue_claim("f", None, lease).unwrap().unwrap();
    assert_eq!((b2.key, b2.attempt), (b.key, 2));
    // Closing the study cancels what is left.
    store.queue_close_study("s1").unwrap();
    assert_eq!(store.queue_task_state(c.key).unwrap(), TaskState::Cancelled);
    assert!(!store.queue_complete(c.key, c.attempt, b"late").unwrap());
    let counts = store.queue_counts(Some("s1")).unwrap();
    assert_eq!((counts.done, counts.cancelled), (1, 2));
}

#[test]
fn an_expired_lease_hands_the_task_on_and_voids_the_late_result() {
    let Some(store) = postgres("an_expired_lease_hands_the_task_on_and_voids_the_late_result")
    else {
        return;
    };
    let exp = study(&store, "s2");
    store.queue_enqueue("s2", exp, &tasks(1)).unwrap();
    let short = Duration::from_millis(300);
    let dead = store.queue_claim("dead", None, short).unwrap().unwrap();
    assert!(
        store
            .queue_heartbeat(dead.key, dead.attempt, short)
            .unwrap()
    );
    // Held: nobody else gets it.
    assert!(store.queue_claim("other", None, short).unwrap().is_none());
    std::thread::sleep(Duration::from_millis(700));
    // Expired, not yet claimed: the old claim can neither renew nor finish it.
    assert!(
        !store
            .queue_heartbeat(dead.key, dead.attempt, short)
            .unwrap()
    );
    let next = store
        .queue_claim("next", None, Duration::from_secs(30))
        .unwrap()
        .unwrap();
    assert_eq!((next.key, next.attempt), (dead.key, 2));
    assert!(
        !store
            .queue_complete(dead.key, dead.attempt, b"late")
            .unwrap()
    );
    assert!(
        store
            .queue_complete(next.key, next.attempt, b"good")
            .unwrap()
    );
    match store.queue_task_state(next.key).unwrap() {
        TaskState::Done { result, owner } => {
            assert_eq!((result.as_slice(), owner.as_str()), (&b"good"[..], "next"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn data_is_stored_once_and_checked_against_its_sha256() {
    let Some(store) = postgres("data_is_stored_once_and_checked_against_its_sha256") else {
        return;
    };
    let a = store.queue_put_data(b"same bytes").unwrap();
    assert_eq!(store.queue_put_data(b"same bytes").unwrap(), a);
    assert_eq!(a, whet_track::content_sha256(b"same bytes"));
    assert_eq!(store.queue_data(&a).unwrap(), b"same bytes");
    let missing = store.queue_data(&"0".repeat(64)).unwrap_err().to_string();
    assert!(missing.contains("not found"), "{missing}");
}

#[test]
fn the_queue_is_refused_on_sqlite() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("whet-queue-sqlite");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&dir.join("q.db").display().to_string()).unwrap();
    let err = store
        .queue_claim("w", None, Duration::from_secs(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("need a PostgreSQL store"), "{err}");
}

#[test]
fn a_result_and_the_next_claim_go_in_one_call_and_a_late_result_is_void() {
    let Some(store) =
        postgres("a_result_and_the_next_claim_go_in_one_call_and_a_late_result_is_void")
    else {
        return;
    };
    let exp = study(&store, "s9");
    let keys = store.queue_enqueue("s9", exp, &tasks(3)).unwrap();
    let long = Duration::from_secs(30);
    let a = store.queue_claim("w", Some(exp), long).unwrap().unwrap();
    assert_eq!(a.key, keys[0]);
    // Storing a's result and claiming the next: one call.
    let done = whet_track::Completion {
        key: a.key,
        attempt: a.attempt,
        result: b"ra".to_vec(),
    };
    let (kept, b) = store
        .queue_claim_next(Some(&done), "w", Some(exp), Duration::from_millis(50))
        .unwrap();
    let b = b.unwrap();
    assert_eq!((kept, b.key), (Some(true), keys[1]));
    match store.queue_task_state(a.key).unwrap() {
        TaskState::Done { result, owner } => {
            assert_eq!((result, owner.as_str()), (b"ra".to_vec(), "w"))
        }
        s => panic!("{s:?}"),
    }
    // b's lease runs out before its result comes: the result is void, and the same call
    // claims another task, not b again (b is claimable, but not by the claim that voided it).
    std::thread::sleep(Duration::from_millis(200));
    let late = whet_track::Completion {
        key: b.key,
        attempt: b.attempt,
        result: b"rb".to_vec(),
    };
    let (kept, c) = store
        .queue_claim_next(Some(&late), "w", None, long)
        .unwrap();
    assert_eq!((kept, c.map(|c| c.key)), (Some(false), Some(keys[2])));
    let again = store.queue_claim("v", None, long).unwrap().unwrap();
    assert_eq!((again.key, again.attempt), (b.key, b.attempt + 1));
    // Nothing left: no task, and no result means no verdict.
    assert_eq!(
        store.queue_claim_next(None, "v", None, long).unwrap().0,
        None
    );
    // Another experiment's worker sees none of these.
    let other = store.get_or_create_experiment("other").unwrap();
    store
        .queue_release(again.key, again.attempt, "test")
        .unwrap();
    assert!(store.queue_claim("x", Some(other), long).unwrap().is_none());
}

#[test]
fn a_task_whose_lease_ran_out_is_claimed_before_queued_ones() {
    let Some(store) = postgres("a_task_whose_lease_ran_out_is_claimed_before_queued_ones") else {
        return;
    };
    let exp = study(&store, "s6");
    let keys = store.queue_enqueue("s6", exp, &tasks(3)).unwrap();
    let lease = Duration::from_secs(30);
    let dead = store
        .queue_claim("dead", None, Duration::from_millis(200))
        .unwrap()
        .unwrap();
    assert_eq!(dead.key, keys[0]);
    std::thread::sleep(Duration::from_millis(500));
    let again = store.queue_claim("a", None, lease).unwrap().unwrap();
    assert_eq!((again.key, again.attempt), (keys[0], 2));
    let next = store.queue_claim("b", None, lease).unwrap().unwrap();
    assert_eq!((next.key, next.attempt), (keys[1], 1));
}

/// Workers that store a result and claim the next task in one call, back to back, contend for
/// the same rows: every task must be done exactly once by the claim that holds it, and no call
/// may fail (two such calls once deadlocked on each other's rows).
#[test]
fn eight_workers_calling_back_to_back_do_every_task_exactly_once() {
    let Some(url) = postgres_url("eight_workers_calling_back_to_back_do_every_task_exactly_once")
    else {
        return;
    };
    let store = Store::open(&url).unwrap();
    let exp = study(&store, "s7");
    let n = 800;
    let all: Vec<NewTask> = (0..n)
        .map(|i| NewTask {
            trial: i / 5,
            fold: i % 5,
            spec: String::new(),
        })
        .collect();
    let keys = store.queue_enqueue("s7", exp, &all).unwrap();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let store = Store::open(&url).unwrap();
                let owner = format!("w{w}");
                let mut mine = Vec::new();
                let mut pending: Option<whet_track::Completion> = None;
                loop {
                    let (kept, claimed) = store
                        .queue_claim_next(pending.as_ref(), &owner, None, Duration::from_secs(60))
                        .unwrap();
                    if pending.is_some() {
                        assert_eq!(kept, Some(true), "{owner}'s result was not kept");
                    }
                    let Some(task) = claimed else { break };
                    mine.push(task.key);
                    pending = Some(whet_track::Completion {
                        key: task.key,
                        attempt: task.attempt,
                        result: owner.clone().into_bytes(),
                    });
                }
                (owner, mine)
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for w in workers {
        let (owner, mine) = w.join().unwrap();
        for key in mine {
            match store.queue_task_state(key).unwrap() {
                TaskState::Done { result, owner: by } => {
                    assert_eq!(
                        (result, by.as_str()),
                        (owner.clone().into_bytes(), owner.as_str())
                    )
                }
                other => panic!("task {key}: {other:?}"),
            }
            claimed.push(key);
        }
    }
    claimed.sort();
    assert_eq!(claimed, keys, "every task claimed exactly once");
    assert_eq!(store.queue_counts(Some("s7")).unwrap().done, n);
}

#[test]
fn a_queued_first_fold_goes_before_later_folds_of_earlier_trials() {
    let Some(store) = postgres("a_queued_first_fold_goes_before_later_folds_of_earlier_trials")
    else {
        return;
    };
    let exp = study(&store, "s1");
    let trial = |t: i64| -> Vec<NewTask> {
        (0..3)
            .map(|f| NewTask {
                trial: t,
                fold: f,
                spec: format!("trial {t} fold {f}"),
            })
            .collect()
    };
    // One INSERT per trial: keys come back in the order given.
    let first = store.queue_enqueue("s1", exp, &trial(0)).unwrap();
    let second = store.queue_enqueue("s1", exp, &trial(1)).unwrap();
    assert!(first.windows(2).all(|w| w[0] < w[1]) && first[2] < second[0]);
    // A fold 0 is never wasted (a trial is pruned only after a fold's result), so trial 1's
    // goes before trial 0's later folds; then the oldest.
    let lease = Duration::from_secs(30);
    let order: Vec<(i64, i64)> =
        std::iter::from_fn(|| store.queue_claim("w", None, lease).unwrap())
            .map(|t| (t.trial, t.fold))
            .collect();
    assert_eq!(order, [(0, 0), (1, 0), (0, 1), (0, 2), (1, 1), (1, 2)]);
}

#[test]
fn stored_results_and_cancelled_running_tasks_are_announced() {
    use whet_track::QueueEvent;
    let Some(store) = postgres("stored_results_and_cancelled_running_tasks_are_announced") else {
        return;
    };
    // Channels are per database: other tests' studies (in other schemas) are heard too, and
    // a listener's caller keeps its own study's events.
    let id = "announced-study";
    let ours = |events: Vec<(String, i64)>| -> Vec<i64> {
        events
            .into_iter()
            .filter(|(s, _)| s == id)
            .map(|(_, k)| k)
            .collect()
    };
    let exp = study(&store, id);
    let keys = store.queue_enqueue(id, exp, &tasks(3)).unwrap();
    let mut results = store.queue_listen(QueueEvent::Result).unwrap().unwrap();
    let mut cancelled = store.queue_listen(QueueEvent::Cancelled).unwrap().unwrap();
    let lease = Duration::from_secs(30);
    let a = store.queue_claim("a", None, lease).unwrap().unwrap();
    assert!(store.queue_complete(a.key, a.attempt, b"r").unwrap());
    let mut heard = Vec::new();
    while heard.is_empty() {
        let events = store
            .queue_wait(&mut results, Duration::from_secs(10))
            .unwrap();
        assert!(!events.is_empty(), "no result announced within 10 s");
        heard = ours(events);
    }
    assert_eq!(heard, [keys[0]]);
    // Cancelling announces the running task only: nobody is fitting the queued one.
    let b = store.queue_claim("b", None, lease).unwrap().unwrap();
    store.queue_cancel(&[keys[1], keys[2]]).unwrap();
    let mut heard = Vec::new();
    while heard.is_empty() {
        let events = store
            .queue_wait(&mut cancelled, Duration::from_secs(10))
            .unwrap();
        assert!(!events.is_empty(), "no cancellation announced within 10 s");
        heard = ours(events);
    }
    assert_eq!(heard, [b.key]);
    // The queued task's cancellation is not announced.
    let later = store
        .queue_wait(&mut cancelled, Duration::from_millis(300))
        .unwrap();
    assert!(ours(later).is_empty());
}

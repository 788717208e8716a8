//! The handle is shareable, and names taken by concurrent writers conflict cleanly on both
//! back ends (SQLite serializes writers; PostgreSQL reports a unique violation, mapped to
//! AlreadyExists).

use std::sync::Arc;

use whet_track::*;

use crate::common::Api;

#[test]
fn async_store_is_send_and_sync() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<AsyncStore>();
    shareable::<Arc<AsyncStore>>();
}

both!(concurrent_creates_conflict_cleanly, |a: &Api| {
    let shared = Arc::new(
        a.run(AsyncStore::open(
            &a.spec,
            OpenOptions {
                artifact_root: Some(a.dir.join("artifacts")),
                ..Default::default()
            },
        ))
        .unwrap(),
    );
    let race = |what: &'static str| {
        a.run(async {
            let tasks: Vec<_> = (0..6)
                .map(|_| {
                    let s = Arc::clone(&shared);
                    tokio::spawn(async move {
                        match what {
                            "experiment" => {
                                s.create_experiment("same", None, &[]).await.map(|_| ())
                            }
                            "model" => s.create_registered_model("same", "", &[]).await.map(|_| ()),
                            _ => s.create_token("same", Role::Read).await.map(|_| ()),
                        }
                    })
                })
                .collect();
            let mut results = Vec::new();
            for t in tasks {
                results.push(t.await.expect("task"));
            }
            results
        })
    };
    for what in ["experiment", "model", "token"] {
        let results = race(what);
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{what}");
        for r in results.into_iter().filter_map(|r| r.err()) {
            assert!(matches!(r, Error::AlreadyExists { .. }), "{what}: {r}");
        }
    }
    a.run(shared.close());
});

//! Server access tokens and the audit log.

use whet_track::*;

use crate::common::Api;

both!(token_lifecycle, |a: &Api| {
    let secret = a.run(a.s.create_token("ci", Role::Write)).unwrap();
    assert!(secret.starts_with(TOKEN_PREFIX));
    assert_eq!(secret.len(), TOKEN_PREFIX.len() + 64);
    let other = a.run(a.s.create_token("admin-1", Role::Admin)).unwrap();
    assert_ne!(secret, other);
    let e = a.run(a.s.create_token("ci", Role::Read)).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    for bad in ["", "has space", "a/b", &"x".repeat(65)] {
        let e = a.run(a.s.create_token(bad, Role::Read)).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{bad:?}: {e}");
    }
    // Authenticating finds the token and records the use.
    let info = a.run(a.s.authenticate(&secret)).unwrap().unwrap();
    assert_eq!((info.name.as_str(), info.role), ("ci", Role::Write));
    let used = info.last_used_time.unwrap();
    assert!(used >= info.created_time);
    // Within the minute the recorded use stays put (no write per request).
    let again = a.run(a.s.authenticate(&secret)).unwrap().unwrap();
    assert_eq!(again.last_used_time, Some(used));
    for wrong in ["", "whet_", "not-a-token", &format!("{secret}x")] {
        assert!(a.run(a.s.authenticate(wrong)).unwrap().is_none(), "{wrong}");
    }
    let listed = a.run(a.s.list_tokens()).unwrap();
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["admin-1", "ci"]);
    assert_eq!(listed[1].last_used_time, Some(used));
    assert!(listed[0].last_used_time.is_none());
    // Revoked: authentication fails, the token stays listed, the name stays taken.
    a.run(a.s.revoke_token("ci")).unwrap();
    assert!(a.run(a.s.authenticate(&secret)).unwrap().is_none());
    let revoked = a.run(a.s.list_tokens()).unwrap()[1].revoked_time.unwrap();
    a.run(a.s.revoke_token("ci")).unwrap();
    assert_eq!(
        a.run(a.s.list_tokens()).unwrap()[1].revoked_time,
        Some(revoked)
    );
    let e = a.run(a.s.revoke_token("nope")).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = a.run(a.s.create_token("ci", Role::Read)).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    assert!(a.run(a.s.authenticate(&other)).unwrap().is_some());
    // Roles include the ones before them.
    assert!(Role::Admin.allows(Role::Write) && Role::Write.allows(Role::Read));
    assert!(!Role::Read.allows(Role::Write));
    assert_eq!("WRITE".parse::<Role>().unwrap(), Role::Write);
});

both!(audit_log, |a: &Api| {
    assert!(a.run(a.s.audit_log(0)).unwrap().is_empty());
    for (i, status) in [200, 403, 404].iter().enumerate() {
        a.run(a.s.record_audit(
            if i == 1 { "" } else { "ci" },
            "POST",
            &format!("/api/2.0/mlflow/runs/create?{i}"),
            *status,
            "experiment 0",
        ))
        .unwrap();
    }
    let all = a.run(a.s.audit_log(0)).unwrap();
    let statuses: Vec<i64> = all.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [404, 403, 200]);
    assert_eq!(all[1].token_name, "");
    assert_eq!(all[2].path, "/api/2.0/mlflow/runs/create?0");
    assert_eq!(all[2].method, "POST");
    assert_eq!(all[2].detail, "experiment 0");
    assert!(all[0].id > all[1].id && all[0].time >= all[2].time);
    assert_eq!(a.run(a.s.audit_log(2)).unwrap().len(), 2);
});

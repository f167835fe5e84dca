//! The adapter against a real etcd (Debian's etcd-server).

use std::time::{Duration, Instant};

use tidemark_model::assignment::{Assignment, SliceId};
use tidemark_model::{Epoch, TopicPartition};
use tidemark_ports::{Coordinator, MemberInfo};
use tidemark_testkit::Etcd;

use super::EtcdCoordinator;

fn member(id: &str) -> MemberInfo {
    MemberInfo {
        id: id.into(),
        address: "host".into(),
        slices: 2,
        joined_at_ms: 1,
    }
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("topic.a", p)
}

#[tokio::test]
async fn ownership_is_compare_and_create_and_epochs_grow() {
    let etcd = Etcd::start().expect("etcd");
    let coord = EtcdCoordinator::new(vec![etcd.endpoint()], "c1", Default::default());
    let a = coord
        .join(&member("a"), Duration::from_secs(10), Epoch(1))
        .await
        .unwrap();
    let b = coord
        .join(&member("b"), Duration::from_secs(10), Epoch(1))
        .await
        .unwrap();
    let view = coord.view().await.unwrap();
    assert_eq!(view.members.len(), 2);
    assert_eq!(
        view.leader().unwrap().info.id,
        "a",
        "the first to join leads"
    );
    assert_eq!(view.slices().len(), 4);

    assert!(a.claim(&tp(0), 1).await.unwrap(), "free partition");
    let e1 = a.current_revision().await.unwrap();
    assert!(!b.claim(&tp(0), 0).await.unwrap(), "held by a");
    // b cannot release a's key.
    b.release(&[tp(0)]).await.unwrap();
    assert!(!b.claim(&tp(0), 0).await.unwrap());
    let view = coord.view().await.unwrap();
    assert_eq!(
        view.owners[&tp(0)],
        SliceId {
            member: "a".into(),
            slice: 1
        }
    );

    a.release(&[tp(0)]).await.unwrap();
    assert!(b.claim(&tp(0), 0).await.unwrap(), "released");
    let e2 = b.current_revision().await.unwrap();
    assert!(e2 > e1, "a later owner's epoch is greater: {e2:?} > {e1:?}");

    // Leaving revokes the lease: b's key disappears at once.
    b.leave().await.unwrap();
    let view = coord.view().await.unwrap();
    assert!(view.owners.is_empty(), "{:?}", view.owners);
    assert_eq!(view.members.len(), 1);
}

#[tokio::test]
async fn the_assignment_is_published_only_at_the_expected_revision() {
    let etcd = Etcd::start().expect("etcd");
    let coord = EtcdCoordinator::new(vec![etcd.endpoint()], "c2", Default::default());
    let a = coord
        .join(&member("a"), Duration::from_secs(10), Epoch(1))
        .await
        .unwrap();
    let mut first = Assignment::new();
    first.insert(
        tp(0),
        SliceId {
            member: "a".into(),
            slice: 0,
        },
    );
    assert!(a.publish(&first, 0).await.unwrap());
    let view = a.view().await.unwrap();
    assert_eq!(view.assignment, first);
    assert!(view.assignment_revision > 0);
    // A stale writer (expecting revision 0) does not overwrite.
    let mut second = first.clone();
    second.insert(
        tp(1),
        SliceId {
            member: "a".into(),
            slice: 1,
        },
    );
    assert!(!a.publish(&second, 0).await.unwrap());
    assert!(a.publish(&second, view.assignment_revision).await.unwrap());
    assert_eq!(a.view().await.unwrap().assignment, second);
}

#[tokio::test]
async fn a_lease_that_cannot_be_kept_alive_is_reported_lost_and_its_keys_expire() {
    let mut etcd = Etcd::start().expect("etcd");
    let coord = EtcdCoordinator::new(vec![etcd.endpoint()], "c3", Default::default());
    let ttl = Duration::from_secs(3);
    let a = coord.join(&member("a"), ttl, Epoch(1)).await.unwrap();
    assert!(a.claim(&tp(0), 0).await.unwrap(), "claim");
    // etcd down for longer than the TTL: the membership must say so within about a TTL.
    etcd.kill9();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), a.lost())
        .await
        .expect("lost reported");
    assert!(
        started.elapsed() <= ttl + Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        a.claim(&tp(1), 0).await.is_err(),
        "a lost membership claims nothing"
    );
    etcd.restart().expect("restart");
    // After the restart the old lease expires (etcd restarts lease TTLs on recovery).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(view) = coord.view().await {
            if view.owners.is_empty() && view.members.is_empty() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "old lease's keys never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A new membership works.
    let again = coord.join(&member("a"), ttl, Epoch(1)).await.unwrap();
    assert!(again.claim(&tp(0), 0).await.unwrap());
}

#[tokio::test]
async fn watch_reports_changes_promptly() {
    let etcd = Etcd::start().expect("etcd");
    let coord = EtcdCoordinator::new(vec![etcd.endpoint()], "c4", Default::default());
    let a = coord
        .join(&member("a"), Duration::from_secs(10), Epoch(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // let the watch start
    let started = Instant::now();
    let join_b = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        coord
            .join(&member("b"), Duration::from_secs(10), Epoch(1))
            .await
            .unwrap()
    };
    let (_, _b) = tokio::join!(a.changed(Duration::from_secs(5)), join_b);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// Epochs are the incarnation base plus a revision: the first join fixes the base from its
/// floor, later joins keep it, and an etcd rebuilt from empty takes the floor of the next join,
/// so epochs keep rising above everything handed out before.
#[tokio::test]
async fn epochs_keep_rising_across_an_etcd_rebuilt_from_empty() {
    let mut etcd = Etcd::start().expect("etcd");
    let coord = EtcdCoordinator::new(vec![etcd.endpoint()], "c5", Default::default());
    let ttl = Duration::from_secs(10);
    let a = coord.join(&member("a"), ttl, Epoch(1_000)).await.unwrap();
    assert!(a.claim(&tp(0), 0).await.unwrap(), "claim");
    let now = a.current_revision().await.unwrap();
    assert!(now.0 > 1_000, "{now:?}");
    // A later join with a lower floor keeps the stored base.
    let b = coord.join(&member("b"), ttl, Epoch(5)).await.unwrap();
    assert!(b.current_revision().await.unwrap() > now);
    drop((a, b));

    // Rebuilt from empty: revisions start again from 1.
    etcd.kill9();
    std::fs::remove_dir_all(etcd.data_dir()).expect("wiping etcd's data");
    etcd.restart().expect("restart");
    let highest = now.0;
    let c = coord
        .join(&member("c"), ttl, Epoch(highest + 1))
        .await
        .unwrap();
    assert!(c.claim(&tp(0), 0).await.unwrap(), "claim after rebuild");
    let after = c.current_revision().await.unwrap();
    assert!(after.0 > highest, "{after:?} after {highest}");
}

#[tokio::test]
async fn tls_with_client_certificates_and_a_password_applies_and_a_wrong_one_is_refused() {
    use tidemark_ports::CoordError;
    use tidemark_testkit::Certificates;

    use crate::EtcdSecurity;

    const PASSWORD: &str = "etcd-root-pw-7Hq";
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = Certificates::generate(dir.path(), "").expect("certificates");
    let wrong = Certificates::generate(dir.path(), "wrong-").expect("certificates");
    let etcd = Etcd::start_tls(&certs).expect("etcd with TLS");
    let pem = |p: &std::path::Path| std::fs::read(p).expect("pem");
    let tls = |c: &Certificates| EtcdSecurity {
        ca_pem: Some(pem(&c.ca)),
        identity: Some((pem(&certs.cert), pem(&certs.key))),
        user: None,
    };

    etcd.enable_auth(PASSWORD)
        .await
        .expect("turn etcd's authentication on");

    let with_user = |security: EtcdSecurity, password: &str| EtcdSecurity {
        user: Some(("root".into(), password.into())),
        ..security
    };
    let coord = EtcdCoordinator::new(
        vec![etcd.endpoint()],
        "tls",
        with_user(tls(&certs), PASSWORD),
    );
    let _member = coord
        .join(&member("a"), Duration::from_secs(10), Epoch(1))
        .await
        .expect("join over TLS with the password");
    assert_eq!(coord.view().await.expect("view").members.len(), 1);

    let wrong_password = EtcdCoordinator::new(
        vec![etcd.endpoint()],
        "tls",
        with_user(tls(&certs), "not-the-password"),
    );
    match wrong_password.view().await {
        Err(CoordError::Refused { reason, .. }) => {
            assert!(reason.contains("authentication failed"), "{reason}")
        }
        other => panic!("a wrong password must be refused, got {other:?}"),
    }
    let no_user = EtcdCoordinator::new(vec![etcd.endpoint()], "tls", tls(&certs));
    assert!(
        no_user.view().await.is_err(),
        "etcd with auth on answers no one without a user"
    );
    let wrong_ca = EtcdCoordinator::new(
        vec![etcd.endpoint()],
        "tls",
        with_user(tls(&wrong), PASSWORD),
    );
    assert!(
        wrong_ca.view().await.is_err(),
        "a server certificate not signed by the configured CA must fail closed"
    );
    let no_client_certificate = EtcdCoordinator::new(
        vec![etcd.endpoint()],
        "tls",
        EtcdSecurity {
            identity: None,
            ..with_user(tls(&certs), PASSWORD)
        },
    );
    assert!(
        no_client_certificate.view().await.is_err(),
        "etcd with --client-cert-auth refuses a client without a certificate"
    );
}

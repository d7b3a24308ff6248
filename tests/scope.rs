//! The scope matrix: two supervisors with two advisors each, two debtors per advisor; every role against every
//! debtor, contact, advisor and queue route. Exactly the allowed cells succeed; every other cell is 403 or 404 and
//! carries none of another team's personal data. Then a reassignment, and the audit trail of it all.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{App, Infra, WAIT};
use recaudo::Target;
use recaudo_testkit::eventually;
use serde_json::json;

const HEADER: &str = "id_cliente,tipo_documento,numero_documento,nombre,apellido,telefono,email,id_credito,producto,\
moneda,saldo_total,saldo_vencido,cuota,fecha_vencimiento,dias_atraso,pais,ciudad,asesor_nombre,asesor_apellido,\
asesor_telefono,supervisor_nombre,supervisor_apellido";

struct Debtor {
    id: String,
    name: String,
    phone: String,
    email: String,
    document: String,
    team: char,
    advisor: usize,
}

fn row(d: &Debtor, team: char, advisor: usize) -> String {
    format!(
        "{id},CC,{doc},{name},Prueba,{phone},{email},CR-{id},Consumo,COP,1000000.00,100000.00,50000.00,2026-10-20,31,CO,\
         Bogotá,Asesor{team}{advisor},Equipo{team},+573001001{team_n}{advisor}0,Supervisor{team},Equipo{team}",
        id = d.id,
        doc = d.document,
        name = d.name,
        phone = d.phone,
        email = d.email,
        team_n = if team == 'A' { 1 } else { 2 },
    )
}

fn advisor_phone(team: char, advisor: usize) -> String {
    format!("+573001001{}{advisor}0", if team == 'A' { 1 } else { 2 })
}

#[tokio::test]
async fn every_role_sees_exactly_its_scope() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T15:00:00Z")]), &Target::ALL).await;

    let mut debtors = Vec::new();
    for team in ['A', 'B'] {
        for advisor in 1..=2 {
            for n in 1..=2 {
                let t = if team == 'A' { 1 } else { 2 };
                debtors.push(Debtor {
                    id: format!("D{team}{advisor}{n}"),
                    name: format!("Nombre{team}{advisor}{n}x"),
                    phone: format!("+5731020{t}{advisor}{n}99"),
                    email: format!("deudor{team}{advisor}{n}@example.com"),
                    document: format!("7{t}{advisor}{n}12345"),
                    team,
                    advisor,
                });
            }
        }
    }
    let file: String = std::iter::once(HEADER.to_string())
        .chain(debtors.iter().map(|d| row(d, d.team, d.advisor)))
        .collect::<Vec<_>>()
        .join("\n");
    let import = app.import(file.into_bytes(), "as_of=2026-11-20").await;
    assert_eq!(import["state"], "completed", "{import}");

    // Advisor and supervisor ids, as an admin sees them.
    let advisors = app.get_ok("/api/advisors").await;
    let mut advisor_ids = BTreeMap::new();
    let mut supervisor_ids = BTreeMap::new();
    for a in advisors["advisors"].as_array().unwrap() {
        for team in ['A', 'B'] {
            for n in 1..=2 {
                if a["phone"] == advisor_phone(team, n) {
                    advisor_ids.insert((team, n), a["id"].as_str().unwrap().to_string());
                    supervisor_ids.insert(team, a["supervisor"]["id"].as_str().unwrap().to_string());
                }
            }
        }
    }
    assert_eq!(advisor_ids.len(), 4, "{advisors}");

    // The directory.
    for team in ['A', 'B'] {
        app.put_user(&format!("sup-{team}"), json!({"role": "supervisor", "supervisor_id": supervisor_ids[&team]}))
            .await;
        for n in 1..=2 {
            let body = json!({"role": "advisor", "advisor_id": advisor_ids[&(team, n)]});
            app.put_user(&format!("adv-{team}{n}"), body).await;
        }
    }
    app.put_user("mgr", json!({"role": "manager"})).await;
    app.put_user("aud", json!({"role": "auditor"})).await;
    let bad = app.http.put(format!("{}/api/users/x", app.base)).json(&json!({"role": "advisor"})).send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    // Who sees what: `None` is everyone, else (team, advisor or 0 for the whole team).
    let users: Vec<(&str, Option<(char, usize)>)> = vec![
        ("mgr", None),
        ("aud", None),
        ("sup-A", Some(('A', 0))),
        ("sup-B", Some(('B', 0))),
        ("adv-A1", Some(('A', 1))),
        ("adv-A2", Some(('A', 2))),
        ("adv-B1", Some(('B', 1))),
        ("adv-B2", Some(('B', 2))),
    ];
    let sees = |scope: Option<(char, usize)>, team: char, advisor: usize| match scope {
        None => true,
        Some((t, 0)) => t == team,
        Some((t, a)) => t == team && a == advisor,
    };
    let token = |subject: &str| infra.idp.token(subject);

    // Portfolio's snapshot pages reach the access layer a moment after the import: wait for the last debtor.
    let last = debtors.last().unwrap();
    eventually("the access layer to learn the assignments", WAIT, || async {
        (app.get_as(&token("adv-B2"), &format!("/api/debtors/{}", last.id)).await.0 == 200).then_some(())
    })
    .await;

    for (user, scope) in &users {
        let t = token(user);
        for d in &debtors {
            let allowed = sees(*scope, d.team, d.advisor);
            for path in [format!("/api/debtors/{}", d.id), format!("/api/debtors/{}/contacts", d.id)] {
                let (status, body) = app.get_as(&t, &path).await;
                let expected = if allowed { 200 } else { 404 };
                assert_eq!(status, expected, "{user} GET {path}: {body}");
                if !allowed {
                    let text = body.to_string();
                    for secret in [&d.name, &d.phone, &d.email, &d.document] {
                        assert!(!text.contains(secret.as_str()), "{user} {path} leaks {secret}: {text}");
                    }
                }
            }
        }
        for ((team, n), id) in &advisor_ids {
            let (status, body) = app.get_as(&t, &format!("/api/advisors/{id}/queue")).await;
            let expected = if sees(*scope, *team, *n) { 200 } else { 404 };
            assert_eq!(status, expected, "{user} queue of {team}{n}: {body}");
        }
        let (status, list) = app.get_as(&t, "/api/advisors").await;
        assert_eq!(status, 200, "{user}");
        let listed: Vec<&str> =
            list["advisors"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
        for ((team, n), id) in &advisor_ids {
            assert_eq!(listed.contains(&id.as_str()), sees(*scope, *team, *n), "{user} lists advisor {team}{n}");
            if !sees(*scope, *team, *n) {
                assert!(!list.to_string().contains(&advisor_phone(*team, *n)), "{user} sees {team}{n}'s phone");
            }
        }
    }

    // Routes a role may not use: 403, whatever the data.
    let status = |user: &str, method: &str, path: &str| {
        let req =
            app.anonymous.request(method.parse().unwrap(), format!("{}{path}", app.base)).bearer_auth(token(user));
        async move { req.json(&json!({})).send().await.unwrap().status().as_u16() }
    };
    for (user, imports, kpis, audit, users_list) in [
        ("mgr", 200, 200, 403, 403),
        ("aud", 200, 200, 200, 200),
        ("sup-A", 403, 403, 403, 403),
        ("adv-A1", 403, 403, 403, 403),
    ] {
        assert_eq!(status(user, "GET", "/api/imports").await, imports, "{user} imports");
        assert_eq!(status(user, "GET", "/api/kpis").await, kpis, "{user} kpis");
        assert_eq!(status(user, "GET", "/api/audit").await, audit, "{user} audit");
        assert_eq!(status(user, "GET", "/api/users").await, users_list, "{user} users");
    }
    assert_eq!(status("aud", "POST", "/api/imports").await, 403, "the auditor only reads");
    assert_eq!(status("aud", "PUT", "/api/import-profiles/p").await, 403);
    assert_eq!(status("mgr", "PUT", "/api/users/someone").await, 403, "only admins manage users");
    assert_eq!(status("adv-A1", "POST", "/api/payments").await, 403);
    let (_, me) = app.get_as(&token("sup-A"), "/api/me").await;
    assert_eq!(me["scope"]["kind"], "supervisor");
    assert_eq!(me["scope"]["advisor_ids"].as_array().unwrap().len(), 2);

    // DA11 moves from advisor A1 to B2: A1 and supervisor A lose it at once, B2 and supervisor B gain it. First the
    // debtor clicks their reply link, so that A1's queue holds them.
    let moved = &debtors[0];
    let a1_queue = format!("/api/advisors/{}/queue", advisor_ids[&('A', 1)]);
    let link = eventually("the moved debtor's SMS", WAIT, || async {
        let c = app.get_ok(&format!("/api/debtors/{}/contacts", moved.id)).await;
        common::reply_link(&c.to_string())
    })
    .await;
    assert_eq!(app.anonymous.get(&link).send().await.unwrap().status().as_u16(), 302);
    let queued = app.get_as(&token("adv-A1"), &a1_queue).await.1;
    assert!(queued.to_string().contains(&moved.id), "{queued}");
    let delta = format!("{HEADER}\n{}", row(moved, 'B', 2));
    let import = app.import(delta.into_bytes(), "as_of=2026-11-20").await;
    assert_eq!(import["state"], "completed");
    let path = format!("/api/debtors/{}", moved.id);
    eventually("advisor A1 to lose the reassigned debtor", Duration::from_secs(30), || async {
        (app.get_as(&token("adv-A1"), &path).await.0 == 404).then_some(())
    })
    .await;
    assert_eq!(app.get_as(&token("sup-A"), &path).await.0, 404);
    eventually("A1's queue to drop the reassigned debtor", Duration::from_secs(30), || async {
        let q = app.get_as(&token("adv-A1"), &a1_queue).await.1;
        (!q.to_string().contains(&moved.id)).then_some(())
    })
    .await;
    assert_eq!(app.get_as(&token("adv-B2"), &path).await.0, 200);
    assert_eq!(app.get_as(&token("sup-B"), &path).await.0, 200);

    // The audit trail has every read by a person, with where it came from; it cannot be rewritten.
    let (status, audit) = app.get_as(&token("aud"), "/api/audit?actor=adv-B2&action=debtor.read&limit=1000").await;
    assert_eq!(status, 200);
    let records = audit["records"].as_array().unwrap();
    // adv-B2 read its two debtors during the matrix and the moved one after (plus the wait's reads).
    assert!(records.len() >= 3, "{audit}");
    assert!(records.iter().any(|r| r["resource_id"] == moved.id.as_str()));
    assert!(records.iter().all(|r| r["ip"] == "127.0.0.1" && r["role"] == "advisor" && r["actor_kind"] == "person"));
    let (_, changes) = app.get_as(&token("aud"), "/api/audit?action=user.put").await;
    assert_eq!(changes["records"].as_array().unwrap().len(), 8);
    let bad_filter = app.get_as(&token("aud"), "/api/audit?from=yesterday").await;
    assert_eq!(bad_filter.0, 400);

    let pool = sqlx::PgPool::connect(&infra.db.url).await.unwrap();
    let update = sqlx::query("UPDATE access.audit_log SET actor = 'nobody'").execute(&pool).await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    assert!(sqlx::query("DELETE FROM access.audit_log").execute(&pool).await.is_err());
    assert!(sqlx::query("TRUNCATE access.audit_log").execute(&pool).await.is_err());
    // Only the retention purge removes records, and only those past the retention.
    let kept = recaudo_access::audit::purge(&pool, Duration::from_secs(86_400), chrono::Utc::now()).await.unwrap();
    assert_eq!(kept, 0);
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    let purged = recaudo_access::audit::purge(&pool, Duration::from_secs(86_400), later).await.unwrap();
    assert!(purged > 0);
    app.stop().await;
}

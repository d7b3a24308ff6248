//! The advisors' and supervisors' workspace on real PostgreSQL and NATS: a debtor's reply opens a case in the
//! current advisor's queue and on the advisor's live stream (and on no other team's), one of two claimants wins,
//! outcomes are validated at the edge and published, the timeline keeps it all, a reconnecting stream gets what it
//! missed once, and timers that fell due while the system was down fire when it is back, escalating to the
//! supervisor and then to the team pool.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{App, Infra, WAIT};
use recaudo::Target;
use recaudo_bus::{Bus, Prefix};
use recaudo_events::Event;
use recaudo_testkit::eventually;
use serde_json::{json, Value};

const HEADER: &str = "id_cliente,tipo_documento,numero_documento,nombre,apellido,telefono,email,id_credito,producto,\
moneda,saldo_total,saldo_vencido,cuota,fecha_vencimiento,dias_atraso,pais,ciudad,asesor_nombre,asesor_apellido,\
asesor_telefono,supervisor_nombre,supervisor_apellido";

fn file() -> String {
    let rows = [
        "D1,CC,111,Ana,Uno,+573102000001,d1@example.com,CR-D1,Consumo,COP,1000000.00,200000.00,50000.00,2026-11-13,10,CO,Bogotá,Asesora,Uno,+573001000010,Super,Visora",
        "D2,CC,222,Beto,Dos,+573102000002,d2@example.com,CR-D2,Consumo,COP,800000.00,90000.00,50000.00,2026-11-13,10,CO,Bogotá,Asesora,Uno,+573001000010,Super,Visora",
        "D3,CC,333,Caro,Tres,+573102000003,d3@example.com,CR-D3,Consumo,COP,500000.00,50000.00,50000.00,2026-11-13,10,CO,Bogotá,Asesor,Dos,+573001000020,Super,Visora",
        "D4,CC,444,Dani,Cuatro,+573102000004,d4@example.com,CR-D4,Consumo,COP,500000.00,50000.00,50000.00,2026-11-13,10,CO,Bogotá,Otro,Equipo,+573001000030,Otra,Jefa",
    ];
    std::iter::once(HEADER).chain(rows).collect::<Vec<_>>().join("\n")
}

struct Team {
    /// Advisor ids by phone suffix: 10 (Asesora Uno), 20 (Asesor Dos), 30 (the other team's).
    advisors: BTreeMap<&'static str, String>,
    supervisor: String,
}

async fn set_up(app: &App, infra: &Infra) -> Team {
    let import = app.import(file().into_bytes(), "as_of=2026-11-23").await;
    assert_eq!(import["state"], "completed", "{import}");
    let list = app.get_ok("/api/advisors").await;
    let mut advisors = BTreeMap::new();
    let mut supervisor = String::new();
    for a in list["advisors"].as_array().unwrap() {
        let key = match a["phone"].as_str().unwrap() {
            "+573001000010" => "uno",
            "+573001000020" => "dos",
            _ => "otro",
        };
        if key != "otro" {
            supervisor = a["supervisor"]["id"].as_str().unwrap().to_string();
        }
        advisors.insert(key, a["id"].as_str().unwrap().to_string());
    }
    assert_eq!(advisors.len(), 3, "{list}");
    app.put_user("adv-uno", json!({"role": "advisor", "advisor_id": advisors["uno"]})).await;
    app.put_user("adv-dos", json!({"role": "advisor", "advisor_id": advisors["dos"]})).await;
    app.put_user("adv-otro", json!({"role": "advisor", "advisor_id": advisors["otro"]})).await;
    app.put_user("sup", json!({"role": "supervisor", "supervisor_id": supervisor})).await;
    // The router's and the access layer's projections learn the file a moment after the import.
    let t = infra.idp.token("adv-otro");
    let path = format!("/api/advisors/{}/queue", advisors["otro"]);
    eventually("the router to know the advisors", WAIT, || async {
        (app.get_as(&t, &path).await.0 == 200).then_some(())
    })
    .await;
    Team { advisors, supervisor }
}

async fn post_as(app: &App, token: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = app.http.post(format!("{}{path}", app.base)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The case of `debtor` in a queue, once it is there.
async fn case_in(app: &App, token: &str, queue: &str, debtor: &str) -> Value {
    eventually(&format!("{debtor} in {queue}"), WAIT, || async {
        let (status, q) = app.get_as(token, queue).await;
        assert_eq!(status, 200, "{q}");
        q["items"].as_array().unwrap().iter().find(|i| i["debtor_id"] == debtor).cloned()
    })
    .await
}

/// A Server-Sent Events stream read over real HTTP.
struct Sse {
    resp: reqwest::Response,
    buf: String,
}

#[derive(Debug, Clone)]
struct SseEvent {
    id: i64,
    kind: String,
    data: Value,
}

impl Sse {
    async fn open(app: &App, token: &str, last_event_id: Option<i64>) -> Sse {
        let mut req = app.http.get(format!("{}/api/stream", app.base)).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Sse { resp, buf: String::new() }
    }

    /// The next event, or `None` if none comes within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut kind, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(id) = id {
                    return Some(SseEvent { id, kind, data: serde_json::from_str(&data).unwrap() });
                }
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    async fn next_for(&mut self, debtor: &str, kind: &str) -> SseEvent {
        loop {
            let e = self.next(WAIT).await.unwrap_or_else(|| panic!("no {kind} of {debtor} on the stream"));
            if e.data["debtor_id"] == debtor && e.kind == kind {
                return e;
            }
        }
    }
}

#[tokio::test]
async fn an_advisor_works_a_case_from_reply_to_promise_and_no_other_team_sees_it() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let app = App::spawn(infra.env(&[("RECAUDO_NOW", "2026-11-23T15:00:00Z")]), &Target::ALL).await;
    let team = set_up(&app, &infra).await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    let (uno, dos, otro, sup) =
        (infra.idp.token("adv-uno"), infra.idp.token("adv-dos"), infra.idp.token("adv-otro"), infra.idp.token("sup"));
    let mut promises = bus.client().subscribe("recaudo.promise.made").await.unwrap();

    let mut uno_stream = Sse::open(&app, &uno, None).await;
    let mut otro_stream = Sse::open(&app, &otro, None).await;

    common::publish_reply(&bus, "D1", "Hola, quiero ponerme al día").await;
    let queue = format!("/api/advisors/{}/queue", team.advisors["uno"]);
    let item = case_in(&app, &uno, &queue, "D1").await;
    assert_eq!(item["reason"], "reply", "{item}");
    assert_eq!(item["state"], "open");
    assert_eq!(item["priority"], "normal");
    assert_eq!(item["last_message"], "Hola, quiero ponerme al día");
    assert_eq!(item["overdue"], "200000.00");
    // 15 working minutes after Monday 10:00 in Bogotá.
    assert_eq!(item["deadline"], "2026-11-23T15:15:00Z");
    let case_id = item["id"].as_str().unwrap().to_string();
    let opened = uno_stream.next_for("D1", "case.opened").await;
    assert_eq!(opened.data["case_id"], case_id.as_str());

    // Outside the case's scope: 404, whoever asks.
    let claim = format!("/api/cases/{case_id}/claim");
    assert_eq!(post_as(&app, &otro, &claim, json!({})).await.0, 404);
    assert_eq!(post_as(&app, &dos, &claim, json!({})).await.0, 404);
    assert_eq!(app.get_as(&otro, &format!("/api/cases/{case_id}")).await.0, 404);

    // Two claimants at once: one wins, the other gets 409.
    let (a, b) = tokio::join!(post_as(&app, &uno, &claim, json!({})), post_as(&app, &sup, &claim, json!({})));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");

    // Outcomes are checked at the edge, naming the field.
    let outcomes = format!("/api/cases/{case_id}/outcomes");
    let (s, body) = post_as(
        &app,
        &uno,
        &outcomes,
        json!({"kind": "promise", "credit_id": "CR-D1", "amount": "50000", "date": "2026-11-20"}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("date:"), "{body}");
    let (s, body) = post_as(
        &app,
        &uno,
        &outcomes,
        json!({"kind": "promise", "credit_id": "CR-D1", "amount": "5000000", "date": "2026-11-30"}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("amount:"), "{body}");
    let (s, body) = post_as(
        &app,
        &uno,
        &outcomes,
        json!({"kind": "promise", "credit_id": "CR-D3", "amount": "1", "date": "2026-11-30"}),
    )
    .await;
    assert_eq!(s, 400, "another debtor's credit: {body}");
    let (s, body) = post_as(&app, &uno, &outcomes, json!({"kind": "vanished"})).await;
    assert_eq!(s, 400, "{body}");
    let (s, body) = post_as(&app, &uno, &format!("/api/cases/{case_id}/notes"), json!({"text": "  "})).await;
    assert_eq!(s, 400, "{body}");
    let (s, _) =
        post_as(&app, &uno, &format!("/api/cases/{case_id}/notes"), json!({"text": "Pagará el viernes"})).await;
    assert_eq!(s, 201);
    let (s, body) = post_as(
        &app,
        &uno,
        &outcomes,
        json!({"kind": "promise", "credit_id": "CR-D1", "amount": "150000.00", "date": "2026-11-30"}),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["case"]["state"], "closed");

    // Published: portfolio made it a promise.
    let made =
        tokio::time::timeout(WAIT, futures::StreamExt::next(&mut promises)).await.expect("promise.made").unwrap();
    let made: Value = serde_json::from_slice(&made.payload).unwrap();
    assert_eq!((made["data"]["debtor_id"].as_str(), made["data"]["amount"].as_str()), (Some("D1"), Some("150000.00")));

    // The timeline keeps it all, in order.
    let case = eventually("the promise on the timeline", WAIT, || async {
        let c = app.get_as(&uno, &format!("/api/cases/{case_id}")).await.1;
        c["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "promise_made").then_some(c)
    })
    .await;
    let kinds: Vec<&str> = case["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let order = ["case_opened", "claim", "note", "outcome", "promise_made"];
    let positions: Vec<usize> =
        order.iter().map(|k| kinds.iter().position(|x| x == k).unwrap_or_else(|| panic!("{k} in {kinds:?}"))).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{kinds:?}");
    assert!(kinds.contains(&"reply"), "{kinds:?}");
    assert_eq!(case["debtor"]["first_name"], "Ana");

    // The stream: claim, note and close reached the advisor; a reconnect from the first event replays the rest once.
    let mut seen = vec![opened.clone()];
    while let Some(e) = uno_stream.next(Duration::from_secs(2)).await {
        seen.push(e);
    }
    let kinds: Vec<&str> = seen.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"case.claimed") && kinds.contains(&"case.closed"), "{kinds:?}");
    let mut again = Sse::open(&app, &uno, Some(opened.id)).await;
    let mut replayed = Vec::new();
    while let Some(e) = again.next(Duration::from_secs(2)).await {
        replayed.push(e.id);
    }
    let expected: Vec<i64> = seen.iter().skip(1).map(|e| e.id).collect();
    assert_eq!(replayed, expected, "every missed event, once, in order");
    // Nothing of the other team ever reached this advisor's stream.
    assert!(otro_stream.next(Duration::from_millis(500)).await.is_none(), "another team's event leaked");
    app.stop().await;
}

#[tokio::test]
async fn timers_that_fell_due_while_down_escalate_to_the_supervisor_then_the_pool() {
    let infra = Infra::start().await;
    infra.migrate().await;
    let env = |now: &str| infra.env(&[("RECAUDO_NOW", now), ("RECAUDO_CASE_TIMER_TICK_MS", "100")]);
    let app = App::spawn(env("2026-11-23T15:00:00Z"), &Target::ALL).await;
    let team = set_up(&app, &infra).await;
    let bus = Bus::connect(&infra.nats.url, Prefix::parse("recaudo").unwrap()).await.unwrap();
    let (uno, dos, sup) = (infra.idp.token("adv-uno"), infra.idp.token("adv-dos"), infra.idp.token("sup"));
    let mut escalations = bus.client().subscribe("recaudo.case.escalated").await.unwrap();

    common::publish_reply(&bus, "D2", "¿Me pueden llamar?").await;
    let uno_queue = format!("/api/advisors/{}/queue", team.advisors["uno"]);
    let item = case_in(&app, &uno, &uno_queue, "D2").await;
    let case_id = item["id"].as_str().unwrap().to_string();
    assert_eq!(item["deadline"], "2026-11-23T15:15:00Z");
    // Nothing fires before its instant.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.get_as(&uno, &uno_queue).await.1["items"][0]["queue"], "advisor");
    app.stop().await;

    // Back at 10:20: the pick-up timer fell due at 10:15 while the system was down.
    let app = App::spawn(env("2026-11-23T15:20:00Z"), &Target::ALL).await;
    let sup_queue = format!("/api/supervisors/{}/queue", team.supervisor);
    let escalated = case_in(&app, &sup, &sup_queue, "D2").await;
    assert_eq!((escalated["reason"].as_str(), escalated["priority"].as_str()), (Some("escalated"), Some("high")));
    assert_eq!(escalated["queue"], "supervisor");
    assert_eq!(escalated["deadline"], "2026-11-23T15:35:00Z", "the supervisor's own pick-up timer");
    let msg =
        tokio::time::timeout(WAIT, futures::StreamExt::next(&mut escalations)).await.expect("case.escalated").unwrap();
    let e: Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(e["type"], recaudo_events::CaseEscalated::TYPE);
    assert_eq!((e["data"]["to"].as_str(), e["data"]["timer"].as_str()), (Some("supervisor"), Some("pickup")));
    assert_eq!(e["data"]["case_id"], case_id.as_str());
    // An advisor may not see another's supervisor queue.
    assert_eq!(app.get_as(&uno, &sup_queue).await.0, 404);
    app.stop().await;

    // A restart at the same instant fires nothing again.
    let app = App::spawn(env("2026-11-23T15:20:00Z"), &Target::ALL).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), futures::StreamExt::next(&mut escalations)).await.is_err(),
        "fired twice"
    );
    app.stop().await;

    // 10:40: the supervisor did not pick it up either: the team pool, where another advisor of the team claims it.
    let app = App::spawn(env("2026-11-23T15:40:00Z"), &Target::ALL).await;
    let dos_queue = format!("/api/advisors/{}/queue", team.advisors["dos"]);
    let pooled = case_in(&app, &dos, &dos_queue, "D2").await;
    assert_eq!(pooled["queue"], "pool");
    let (s, body) = post_as(&app, &dos, &format!("/api/cases/{case_id}/claim"), json!({})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["case"]["advisor_id"], team.advisors["dos"].as_str());
    assert!(app.get_as(&uno, &uno_queue).await.1["items"].as_array().unwrap().iter().all(|i| i["debtor_id"] != "D2"));
    // Holding the case, Asesor Dos sees its debtor (the plan, the contacts), although the file assigns D2 to Uno.
    eventually("the claimant to see the debtor", WAIT, || async {
        (app.get_as(&dos, "/api/debtors/D2/plan").await.0 == 200).then_some(())
    })
    .await;

    // Transfers are the supervisor's: back to Asesora Uno, unclaimed, with a fresh timer.
    let transfer = format!("/api/cases/{case_id}/transfer");
    assert_eq!(post_as(&app, &dos, &transfer, json!({"advisor_id": team.advisors["uno"]})).await.0, 403);
    let (s, body) = post_as(&app, &sup, &transfer, json!({"advisor_id": team.advisors["otro"]})).await;
    assert_eq!(s, 404, "another team's advisor: {body}");
    let (s, body) = post_as(&app, &sup, &transfer, json!({"advisor_id": team.advisors["uno"]})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!((body["case"]["state"].as_str(), body["case"]["queue"].as_str()), (Some("open"), Some("advisor")));
    // ... and with the case gone to Uno, Dos no longer does.
    eventually("the transfer to take the debtor from Dos", WAIT, || async {
        (app.get_as(&dos, "/api/debtors/D2/plan").await.0 == 404).then_some(())
    })
    .await;

    // Away: new cases of Asesora Uno go to the supervisor meanwhile.
    let (s, body) = app
        .http
        .put(format!("{}/api/advisors/{}/away", app.base, team.advisors["uno"]))
        .bearer_auth(&sup)
        .json(&json!({"away": true, "reason": "vacation"}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(s, 200, "{:?}", body.text().await);
    common::publish_reply(&bus, "D1", "Buenas").await;
    let to_sup = case_in(&app, &sup, &sup_queue, "D1").await;
    assert_eq!((to_sup["queue"].as_str(), to_sup["reason"].as_str()), (Some("supervisor"), Some("reply")));
    let team_view = app.get_as(&sup, &format!("/api/supervisors/{}/team", team.supervisor)).await.1;
    let uno_row = team_view["advisors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["advisor_id"] == team.advisors["uno"].as_str())
        .cloned()
        .unwrap();
    assert_eq!(uno_row["away"], true, "{team_view}");
    app.stop().await;
}

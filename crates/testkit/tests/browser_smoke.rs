//! The browser harness end to end: a page served on localhost, opened in headless Chromium, a click that runs the
//! page's script, a screenshot at desktop and phone size, and the accessibility check passing on an accessible page
//! and failing on an inaccessible one. Needs `make test-deps`.

use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use recaudo_testkit::browser::Browser;

const ACCESSIBLE: &str = r#"<!doctype html>
<html lang="es">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Recaudo — prueba del navegador</title>
  <style>
    body { font-family: sans-serif; color: #1a1a1a; background: #fff; margin: 2rem; }
    button { font-size: 1rem; padding: .5rem 1rem; color: #fff; background: #0b5394; border: 0; }
  </style>
</head>
<body>
  <header><h1>Cartera</h1></header>
  <main>
    <p id="status" role="status">Sin guardar</p>
    <button id="save" type="button">Guardar</button>
  </main>
  <script>
    document.getElementById('save').addEventListener('click', () => {
      setTimeout(() => { document.getElementById('status').textContent = 'Guardado'; }, 100);
    });
  </script>
</body>
</html>"#;

// An image without alternative text and a button without a name: axe-core's image-alt and button-name (critical).
const INACCESSIBLE: &str = r#"<!doctype html>
<html lang="es">
<head><meta charset="utf-8"><title>Inaccesible</title></head>
<body>
  <main>
    <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="40" height="40">
    <button type="button"></button>
  </main>
</body>
</html>"#;

async fn serve() -> String {
    let app = Router::new()
        .route("/", get(|| async { Html(ACCESSIBLE) }))
        .route("/bad", get(|| async { Html(INACCESSIBLE) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn click_screenshot_and_accessibility_in_headless_chromium() -> anyhow::Result<()> {
    let base = serve().await;
    let browser = Browser::start().await?;
    let wait = Duration::from_secs(10);

    browser.goto(&format!("{base}/")).await?;
    assert_eq!(browser.title().await?, "Recaudo — prueba del navegador");
    assert_eq!(browser.wait_for("#status", wait).await?.text().await?, "Sin guardar");
    browser.wait_for("#save", wait).await?.click().await?;
    browser.wait_for_text("#status", "Guardado", wait).await?;

    let desktop = browser.screenshot("browser-smoke-desktop").await;
    assert_png(&desktop);
    browser.assert_accessible("the accessible page").await;

    browser.set_viewport(390, 844).await?;
    assert_eq!(browser.viewport().await?, (390, 844));
    let phone = browser.screenshot("browser-smoke-phone").await;
    assert_png(&phone);

    // A text that never comes fails with the element's actual text, not silently.
    let err = browser.wait_for_text("#status", "Borrado", Duration::from_millis(300)).await.unwrap_err();
    assert!(err.to_string().contains("Guardado"), "{err}");

    browser.goto(&format!("{base}/bad")).await?;
    let violations = browser.axe_violations().await?;
    let ids: Vec<&str> = violations.iter().filter_map(|v| v["id"].as_str()).collect();
    assert!(ids.contains(&"image-alt"), "axe-core should report the image without alt, reported {ids:?}");
    assert!(ids.contains(&"button-name"), "axe-core should report the nameless button, reported {ids:?}");

    // assert_accessible fails on it, naming the rule and the element.
    let check = tokio::spawn(async move { browser.assert_accessible("the inaccessible page").await });
    let panic = check.await.expect_err("assert_accessible must fail on the inaccessible page").into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("image-alt") && message.contains("critical") && message.contains("img"), "{message}");
    Ok(())
}

fn assert_png(path: &std::path::Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 1000, "{} is not a PNG", path.display());
}

#[tokio::test]
async fn close_ends_the_session() -> anyhow::Result<()> {
    let base = serve().await;
    let browser = Browser::start().await?;
    browser.goto(&base).await?;
    browser.wait_for("main", Duration::from_secs(10)).await?;
    browser.close().await
}

//! Headless Debian Chromium driven over the DevTools protocol, with nothing
//! but a WebSocket: launch, navigate, evaluate JavaScript, take a screenshot.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::wait_until;

const CHROMIUM: &str = "/usr/bin/chromium";

/// One headless Chromium with one page, and a fresh profile.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    page: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// What the page logged to the console, oldest first.
    pub console: Vec<String>,
}

impl Browser {
    pub fn launch() -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} not found: run scripts/setup (it installs Debian's chromium)"
        );
        let profile = std::env::temp_dir().join(format!(
            "hotswap-chromium-{}-{}",
            std::process::id(),
            nanos_now()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1000,800",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {CHROMIUM}: {err}"));

        // Chromium writes the port it picked into the profile.
        let port_file = profile.join("DevToolsActivePort");
        let port: u16 = wait_until(
            "Chromium to open its DevTools port",
            Duration::from_secs(30),
            || {
                std::fs::read_to_string(&port_file)
                    .ok()
                    .and_then(|text| text.lines().next()?.trim().parse().ok())
            },
        );
        let page_url = wait_until("Chromium's first page", Duration::from_secs(30), || {
            let list = crate::http::get(port, "/json/list").ok()?;
            let targets: Value = serde_json::from_str(&list.body).ok()?;
            targets
                .as_array()?
                .iter()
                .find(|target| target["type"] == "page")?["webSocketDebuggerUrl"]
                .as_str()
                .map(str::to_string)
        });
        let (page, _) = tungstenite::connect(page_url).expect("cannot attach to Chromium's page");
        if let MaybeTlsStream::Plain(stream) = page.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
        }
        let mut browser = Browser {
            child,
            profile,
            page,
            next_id: 0,
            console: Vec::new(),
        };
        browser.call("Runtime.enable", json!({}));
        browser.call("Page.enable", json!({}));
        browser
    }

    /// Load `url` and wait until its document has loaded.
    pub fn goto(&mut self, url: &str) {
        // The document being left is complete too: mark it, so that only
        // the new one counts.
        self.eval("window.__hotswapLeaving = true");
        let result = self.call("Page.navigate", json!({ "url": url }));
        if let Some(error) = result.get("errorText") {
            panic!("cannot load {url}: {error}");
        }
        let loaded = "!window.__hotswapLeaving && document.readyState === 'complete'";
        wait_until(&format!("{url} to load"), Duration::from_secs(60), || {
            // Between the two documents there is nothing to evaluate in.
            (self.try_eval(loaded) == Ok(json!(true))).then_some(())
        });
    }

    /// Run `script` in every document this page loads from now on, before the
    /// document's own scripts (to observe what the page does from its start).
    pub fn before_each_document(&mut self, script: &str) {
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": script }),
        );
    }

    /// Evaluate a JavaScript expression (awaiting it if it is a promise) and return its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        self.try_eval(expression)
            .unwrap_or_else(|err| panic!("JavaScript `{expression}` {err}"))
    }

    /// Like [`Browser::eval`], but a thrown exception or a page that is
    /// between documents (reloading) is an `Err` instead of a panic, so a
    /// caller can poll across a reload.
    pub fn try_eval(&mut self, expression: &str) -> Result<Value, String> {
        let result = self
            .try_call(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .map_err(|err| format!("was refused by Chromium: {err}"))?;
        if let Some(exception) = result.get("exceptionDetails") {
            let text = exception["exception"]["description"]
                .as_str()
                .or(exception["text"].as_str())
                .unwrap_or("unknown error");
            return Err(format!("threw: {text}"));
        }
        Ok(result["result"]["value"].clone())
    }

    /// Chromium's pid (its own helper processes stop when it does).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Poll `expression` until it is truthy, then return its value.
    pub fn wait_for(&mut self, what: &str, expression: &str, timeout: Duration) -> Value {
        wait_until(what, timeout, || {
            let value = self.eval(expression);
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            truthy.then_some(value)
        })
    }

    /// Save a PNG of the page.
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64_decode(shot["data"].as_str().expect("no screenshot data"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
        eprintln!("screenshot saved to {}", path.display());
    }

    /// Send one DevTools command and wait for its answer; events met on the way
    /// are kept (console messages) or dropped.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|err| panic!("Chromium refused {method}: {err}"))
    }

    /// [`Browser::call`], with an error answer returned instead of a panic.
    /// Losing the connection to Chromium still panics: nothing can go on.
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params });
        self.page
            .send(Message::text(request.to_string()))
            .unwrap_or_else(|err| panic!("lost Chromium while sending {method}: {err}"));
        loop {
            let message = self
                .page
                .read()
                .unwrap_or_else(|err| panic!("lost Chromium while waiting for {method}: {err}"));
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(message) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    return Err(error.to_string());
                }
                return Ok(message["result"].clone());
            }
            if message["method"] == "Runtime.consoleAPICalled" {
                let params = &message["params"];
                let args: Vec<String> = params["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|arg| match &arg["value"] {
                        Value::String(text) => text.clone(),
                        Value::Null => arg["description"].as_str().unwrap_or("").to_string(),
                        other => other.to_string(),
                    })
                    .collect();
                self.console.push(format!(
                    "[{}] {}",
                    params["type"].as_str().unwrap_or("log"),
                    args.join(" ")
                ));
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
        if std::thread::panicking() {
            eprintln!(
                "----- the page's console -----\n{}\n-----",
                self.console.join("\n")
            );
        }
    }
}

fn nanos_now() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos())
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    digits
        .chunks(4)
        .flat_map(|chunk| {
            let bits = chunk.iter().enumerate().fold(0u32, |bits, (i, &digit)| {
                bits | (digit as u32) << (18 - 6 * i)
            });
            let bytes = bits.to_be_bytes();
            bytes[1..chunk.len()].to_vec()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_base64() {
        assert_eq!(super::base64_decode("aGVsbG8="), b"hello");
        assert_eq!(super::base64_decode("aGk="), b"hi");
        assert_eq!(super::base64_decode("YWJj"), b"abc");
    }
}

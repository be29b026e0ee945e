//! The hot part: edit anything here and save while `./dev` runs.

/// What the page shows, drawn again after every click and every patch.
pub fn view(clicks: u32) -> String {
    format!("<p>Hello from a hot-patched page!</p><p>{clicks} clicks</p>")
}

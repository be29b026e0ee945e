//! The hot part: the code every rayon thread runs. Edit it and save while
//! `./dev` runs: every thread runs the new code, and the page is not reloaded.

/// One row of the picture, `width` RGBA pixels. The page has the rayon
/// threads compute all the rows in parallel.
pub fn row(y: u32, width: u32, height: u32) -> Vec<u8> {
    let v = y as f32 / height as f32;
    (0..width)
        .flat_map(|x| {
            let [r, g, b] = color(x as f32 / width as f32, v);
            [r, g, b, 255]
        })
        .collect()
}

/// The colour at (x, y), both from 0 to 1.
pub fn color(x: f32, y: f32) -> [u8; 3] {
    let rings = ((x - 0.5).hypot(y - 0.5) * 40.0).sin() * 0.5 + 0.5;
    let blue = 160;
    [(255.0 * x) as u8, (255.0 * rings) as u8, blue]
}

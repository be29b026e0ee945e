//! Shading: what colour a ray brings back. Runs on every worker thread; edit
//! it while the page is open and every thread renders with the new code.

use raytracer_core::{positive, pow16, Ray, Scene, Vec3, EPSILON};

/// How many mirror bounces a ray may take; past this the sky is all it sees.
pub const MAX_BOUNCES: u32 = 3;

/// Linear RGB seen through pixel (x, y), before clamping and gamma.
pub fn pixel(scene: &Scene, x: u32, y: u32, width: u32, height: u32) -> Vec3 {
    trace(scene, &scene.camera.ray(x, y, width, height), 0)
}

/// The sky behind everything: a gradient from the horizon up.
fn sky(scene: &Scene, ray: &Ray) -> Vec3 {
    let k = 0.5 * (ray.dir.y + 1.0);
    scene.sky_horizon * (1.0 - k) + scene.sky_zenith * k
}

fn trace(scene: &Scene, ray: &Ray, bounce: u32) -> Vec3 {
    let Some((t, object)) = scene.nearest_hit(ray) else {
        return sky(scene, ray);
    };
    let m = &object.material;
    let p = ray.at(t);
    let n = object.shape.normal_at(p);
    // Start secondary rays slightly off the surface so they don't hit it again.
    let lifted = p + n * EPSILON;

    let base = match m.checker {
        // `floor` is exact on every platform, unlike sin/cos-based patterns.
        Some(other) if (p.x.floor() as i32 + p.z.floor() as i32) & 1 != 0 => other,
        _ => m.color,
    };

    let mut color = scene.ambient.tint(base);
    for light in &scene.lights {
        let to_light = light.position - p;
        let distance = to_light.length();
        let l = to_light * (1.0 / distance);
        let shadow_ray = Ray {
            origin: lifted,
            dir: l,
        };
        if scene.in_shadow(&shadow_ray, distance) {
            continue;
        }
        let diffuse = positive(n.dot(l)) * m.diffuse;
        color = color + base.tint(light.color) * diffuse;
        let highlight = positive((-l).reflect(n).dot(-ray.dir));
        color = color + light.color * (pow16(highlight) * m.specular);
    }

    if m.reflectivity > 0.0 && bounce < MAX_BOUNCES {
        let mirror = Ray {
            origin: lifted,
            dir: ray.dir.reflect(n),
        };
        let reflected = trace(scene, &mirror, bounce + 1);
        color = color * (1.0 - m.reflectivity) + reflected * m.reflectivity;
    }
    color
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_under_the_red_sphere_is_in_shadow_of_the_main_light() {
        let scene = crate::scene::reference();
        // Straight below the red sphere's centre, towards the upper-left light.
        let below = Vec3::new(0.0, EPSILON, 0.0);
        let light = scene.lights[0].position;
        let l = (light - below).normalized();
        assert!(scene.in_shadow(&Ray::towards(below, l), (light - below).length()));
        // Far out on the floor nothing blocks it.
        let open = Vec3::new(-1.0, EPSILON, 4.0);
        assert!(!scene.in_shadow(&Ray::towards(open, (light - open).normalized()), 100.0));
    }

    #[test]
    fn rays_that_miss_everything_see_the_sky() {
        let scene = crate::scene::reference();
        let up = Ray::towards(scene.camera.position, Vec3::new(0.0, 1.0, 0.0));
        assert_eq!(trace(&scene, &up, 0), scene.sky_zenith);
    }
}

//! The scene every render uses: edit it while the page is open (a sphere's
//! colour, the sky, a light) and the next render shows it.

use raytracer_core::{Camera, Light, Material, Object, Scene, Shape, Vec3};

/// The scene of every test, benchmark and page render. Change it and
/// `render::REFERENCE_HASH` must be regenerated (the test failure prints the new one).
pub fn reference() -> Scene {
    let matte = |color| Material {
        color,
        checker: None,
        diffuse: 0.9,
        specular: 0.3,
        reflectivity: 0.0,
    };
    let sphere = |x, y, z, radius, material| Object {
        shape: Shape::Sphere {
            center: Vec3::new(x, y, z),
            radius,
        },
        material,
    };
    Scene {
        camera: Camera::look_at(Vec3::new(0.0, 2.2, 6.5), Vec3::new(0.0, 0.8, 0.0), 0.55),
        objects: vec![
            Object {
                shape: Shape::Plane {
                    point: Vec3::ZERO,
                    normal: Vec3::new(0.0, 1.0, 0.0),
                },
                material: Material {
                    color: Vec3::new(0.9, 0.9, 0.85),
                    checker: Some(Vec3::new(0.25, 0.25, 0.3)),
                    diffuse: 0.8,
                    specular: 0.0,
                    reflectivity: 0.15,
                },
            },
            sphere(
                0.0,
                1.0,
                0.0,
                1.0,
                Material {
                    reflectivity: 0.2,
                    specular: 0.6,
                    ..matte(Vec3::new(0.85, 0.2, 0.15))
                },
            ),
            sphere(
                -2.2,
                0.8,
                0.9,
                0.8,
                Material {
                    diffuse: 0.2,
                    specular: 0.8,
                    reflectivity: 0.75,
                    ..matte(Vec3::new(0.9, 0.9, 0.95))
                },
            ),
            sphere(2.0, 0.6, 0.8, 0.6, matte(Vec3::new(0.2, 0.7, 0.25))),
            sphere(0.9, 0.3, 2.0, 0.3, matte(Vec3::new(0.2, 0.35, 0.9))),
        ],
        lights: vec![
            Light {
                position: Vec3::new(-4.0, 6.0, 4.0),
                color: Vec3::new(0.8, 0.8, 0.75),
            },
            Light {
                position: Vec3::new(5.0, 4.0, 2.0),
                color: Vec3::new(0.45, 0.35, 0.25),
            },
        ],
        ambient: Vec3::new(0.08, 0.08, 0.1),
        sky_horizon: Vec3::new(0.85, 0.9, 1.0),
        sky_zenith: Vec3::new(0.3, 0.5, 0.85),
    }
}

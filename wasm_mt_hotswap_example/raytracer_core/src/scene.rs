use crate::vec3::Vec3;

/// Keeps secondary rays from hitting the surface they start on.
const EPSILON: f32 = 1e-3;

/// How many mirror bounces a ray may take; past this the sky is all it sees.
pub const MAX_BOUNCES: u32 = 3;

#[derive(Clone, Copy, Debug)]
pub struct Ray {
    pub origin: Vec3,
    /// Unit length.
    pub dir: Vec3,
}

impl Ray {
    pub fn at(&self, t: f32) -> Vec3 {
        self.origin + self.dir * t
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Material {
    pub color: Vec3,
    /// Second colour of a 1x1 checkerboard in the x/z plane, if any.
    pub checker: Option<Vec3>,
    pub diffuse: f32,
    pub specular: f32,
    /// 0 = matte, 1 = perfect mirror.
    pub reflectivity: f32,
}

#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Sphere {
        center: Vec3,
        radius: f32,
    },
    /// `normal` must be unit length.
    Plane {
        point: Vec3,
        normal: Vec3,
    },
}

impl Shape {
    /// Distance along `ray` to the nearest hit in front of its origin.
    pub fn intersect(&self, ray: &Ray) -> Option<f32> {
        match *self {
            Shape::Sphere { center, radius } => {
                let oc = ray.origin - center;
                let b = oc.dot(ray.dir);
                let c = oc.dot(oc) - radius * radius;
                let disc = b * b - c;
                if disc < 0.0 {
                    return None;
                }
                let s = disc.sqrt();
                [-b - s, -b + s].into_iter().find(|&t| t > EPSILON)
            }
            Shape::Plane { point, normal } => {
                let denom = normal.dot(ray.dir);
                if denom.abs() < 1e-6 {
                    return None;
                }
                let t = (point - ray.origin).dot(normal) / denom;
                (t > EPSILON).then_some(t)
            }
        }
    }

    pub fn normal_at(&self, p: Vec3) -> Vec3 {
        match *self {
            Shape::Sphere { center, radius } => (p - center) * (1.0 / radius),
            Shape::Plane { normal, .. } => normal,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Object {
    pub shape: Shape,
    pub material: Material,
}

#[derive(Clone, Copy, Debug)]
pub struct Light {
    pub position: Vec3,
    pub color: Vec3,
}

/// A pinhole camera. Its basis is precomputed so that `ray` is cheap per pixel.
#[derive(Clone, Copy, Debug)]
pub struct Camera {
    pub position: Vec3,
    forward: Vec3,
    right: Vec3,
    up: Vec3,
    /// tan(vertical field of view / 2), given directly so that no platform
    /// trigonometry is involved.
    half_height: f32,
}

impl Camera {
    pub fn look_at(position: Vec3, target: Vec3, half_height: f32) -> Camera {
        let forward = (target - position).normalized();
        let right = forward.cross(Vec3::new(0.0, 1.0, 0.0)).normalized();
        let up = right.cross(forward);
        Camera {
            position,
            forward,
            right,
            up,
            half_height,
        }
    }

    /// The ray through the centre of pixel (x, y); y = 0 is the top row.
    pub fn ray(&self, x: u32, y: u32, width: u32, height: u32) -> Ray {
        let aspect = width as f32 / height as f32;
        let u = ((x as f32 + 0.5) / width as f32 * 2.0 - 1.0) * aspect * self.half_height;
        let v = (1.0 - (y as f32 + 0.5) / height as f32 * 2.0) * self.half_height;
        Ray {
            origin: self.position,
            dir: (self.forward + self.right * u + self.up * v).normalized(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Scene {
    pub camera: Camera,
    pub objects: Vec<Object>,
    pub lights: Vec<Light>,
    pub ambient: Vec3,
    pub sky_horizon: Vec3,
    pub sky_zenith: Vec3,
}

impl Scene {
    /// The scene every test, benchmark and page render uses. Change it and
    /// `REFERENCE_HASH` must be regenerated (the test failure prints the new one).
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

    /// Linear RGB seen through pixel (x, y), before clamping and gamma.
    pub fn pixel(&self, x: u32, y: u32, width: u32, height: u32) -> Vec3 {
        self.trace(&self.camera.ray(x, y, width, height), 0)
    }

    fn nearest_hit(&self, ray: &Ray) -> Option<(f32, &Object)> {
        let mut best: Option<(f32, &Object)> = None;
        for object in &self.objects {
            if let Some(t) = object.shape.intersect(ray) {
                if best.is_none_or(|(best_t, _)| t < best_t) {
                    best = Some((t, object));
                }
            }
        }
        best
    }

    fn in_shadow(&self, ray: &Ray, light_distance: f32) -> bool {
        self.objects
            .iter()
            .any(|o| o.shape.intersect(ray).is_some_and(|t| t < light_distance))
    }

    fn trace(&self, ray: &Ray, bounce: u32) -> Vec3 {
        let Some((t, object)) = self.nearest_hit(ray) else {
            let k = 0.5 * (ray.dir.y + 1.0);
            return self.sky_horizon * (1.0 - k) + self.sky_zenith * k;
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

        let mut color = self.ambient.tint(base);
        for light in &self.lights {
            let to_light = light.position - p;
            let distance = to_light.length();
            let l = to_light * (1.0 / distance);
            let shadow_ray = Ray {
                origin: lifted,
                dir: l,
            };
            if self.in_shadow(&shadow_ray, distance) {
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
            let reflected = self.trace(&mirror, bounce + 1);
            color = color * (1.0 - m.reflectivity) + reflected * m.reflectivity;
        }
        color
    }
}

/// `x.max(0.0)` by comparison only: `f32::max` lowers to different
/// instructions on wasm and x86, and they disagree on NaN and signed zero.
fn positive(x: f32) -> f32 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// x^16 by squaring: `powf` comes from each platform's libm and may round differently.
fn pow16(x: f32) -> f32 {
    let x2 = x * x;
    let x4 = x2 * x2;
    let x8 = x4 * x4;
    x8 * x8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ray(origin: Vec3, dir: Vec3) -> Ray {
        Ray {
            origin,
            dir: dir.normalized(),
        }
    }

    #[test]
    fn sphere_hit_from_outside_is_the_near_side() {
        let s = Shape::Sphere {
            center: Vec3::new(0.0, 0.0, -5.0),
            radius: 1.0,
        };
        let t = s.intersect(&ray(Vec3::ZERO, Vec3::new(0.0, 0.0, -1.0)));
        assert_eq!(t, Some(4.0));
    }

    #[test]
    fn sphere_behind_the_ray_is_missed() {
        let s = Shape::Sphere {
            center: Vec3::new(0.0, 0.0, 5.0),
            radius: 1.0,
        };
        assert_eq!(
            s.intersect(&ray(Vec3::ZERO, Vec3::new(0.0, 0.0, -1.0))),
            None
        );
    }

    #[test]
    fn plane_parallel_to_ray_is_missed() {
        let floor = Shape::Plane {
            point: Vec3::ZERO,
            normal: Vec3::new(0.0, 1.0, 0.0),
        };
        let along = ray(Vec3::new(0.0, 1.0, 0.0), Vec3::new(1.0, 0.0, 0.0));
        assert_eq!(floor.intersect(&along), None);
        let down = ray(Vec3::new(0.0, 2.0, 0.0), Vec3::new(0.0, -1.0, 0.0));
        assert_eq!(floor.intersect(&down), Some(2.0));
    }

    #[test]
    fn the_floor_under_the_red_sphere_is_in_shadow_of_the_main_light() {
        let scene = Scene::reference();
        // Straight below the red sphere's centre, towards the upper-left light.
        let below = Vec3::new(0.0, EPSILON, 0.0);
        let light = scene.lights[0].position;
        let l = (light - below).normalized();
        assert!(scene.in_shadow(&ray(below, l), (light - below).length()));
        // Far out on the floor nothing blocks it.
        let open = Vec3::new(-1.0, EPSILON, 4.0);
        assert!(!scene.in_shadow(&ray(open, (light - open).normalized()), 100.0));
    }

    #[test]
    fn rays_that_miss_everything_see_the_sky() {
        let scene = Scene::reference();
        let up = ray(scene.camera.position, Vec3::new(0.0, 1.0, 0.0));
        assert_eq!(scene.trace(&up, 0), scene.sky_zenith);
    }
}

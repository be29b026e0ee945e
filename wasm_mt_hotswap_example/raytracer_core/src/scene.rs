use crate::vec3::Vec3;

/// Keeps secondary rays from hitting the surface they start on.
pub const EPSILON: f32 = 1e-3;

#[derive(Clone, Copy, Debug)]
pub struct Ray {
    pub origin: Vec3,
    /// Unit length.
    pub dir: Vec3,
}

impl Ray {
    /// A ray from `origin` towards `dir`, which need not be unit length.
    #[inline]
    pub fn towards(origin: Vec3, dir: Vec3) -> Ray {
        Ray {
            origin,
            dir: dir.normalized(),
        }
    }

    #[inline]
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
    #[inline]
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

    #[inline]
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
    #[inline]
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
    #[inline]
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
    /// The nearest object `ray` hits in front of its origin, and how far along.
    #[inline]
    pub fn nearest_hit(&self, ray: &Ray) -> Option<(f32, &Object)> {
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

    /// Whether anything lies on `ray` closer than `light_distance`.
    #[inline]
    pub fn in_shadow(&self, ray: &Ray, light_distance: f32) -> bool {
        self.objects
            .iter()
            .any(|o| o.shape.intersect(ray).is_some_and(|t| t < light_distance))
    }
}

/// `x.max(0.0)` by comparison only: `f32::max` lowers to different
/// instructions on wasm and x86, and they disagree on NaN and signed zero.
#[inline]
pub fn positive(x: f32) -> f32 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// x^16 by squaring: `powf` comes from each platform's libm and may round differently.
#[inline]
pub fn pow16(x: f32) -> f32 {
    let x2 = x * x;
    let x4 = x2 * x2;
    let x8 = x4 * x4;
    x8 * x8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sphere_hit_from_outside_is_the_near_side() {
        let s = Shape::Sphere {
            center: Vec3::new(0.0, 0.0, -5.0),
            radius: 1.0,
        };
        let t = s.intersect(&Ray::towards(Vec3::ZERO, Vec3::new(0.0, 0.0, -1.0)));
        assert_eq!(t, Some(4.0));
    }

    #[test]
    fn sphere_behind_the_ray_is_missed() {
        let s = Shape::Sphere {
            center: Vec3::new(0.0, 0.0, 5.0),
            radius: 1.0,
        };
        assert_eq!(
            s.intersect(&Ray::towards(Vec3::ZERO, Vec3::new(0.0, 0.0, -1.0))),
            None
        );
    }

    #[test]
    fn plane_parallel_to_ray_is_missed() {
        let floor = Shape::Plane {
            point: Vec3::ZERO,
            normal: Vec3::new(0.0, 1.0, 0.0),
        };
        let along = Ray::towards(Vec3::new(0.0, 1.0, 0.0), Vec3::new(1.0, 0.0, 0.0));
        assert_eq!(floor.intersect(&along), None);
        let down = Ray::towards(Vec3::new(0.0, 2.0, 0.0), Vec3::new(0.0, -1.0, 0.0));
        assert_eq!(floor.intersect(&down), Some(2.0));
    }

    #[test]
    fn the_nearest_of_two_spheres_is_hit_and_shadows_what_is_behind_it() {
        let sphere = |z| Object {
            shape: Shape::Sphere {
                center: Vec3::new(0.0, 0.0, z),
                radius: 1.0,
            },
            material: Material {
                color: Vec3::ZERO,
                checker: None,
                diffuse: 1.0,
                specular: 0.0,
                reflectivity: 0.0,
            },
        };
        let scene = Scene {
            camera: Camera::look_at(Vec3::ZERO, Vec3::new(0.0, 0.0, -1.0), 0.5),
            objects: vec![sphere(-10.0), sphere(-5.0)],
            lights: vec![],
            ambient: Vec3::ZERO,
            sky_horizon: Vec3::ZERO,
            sky_zenith: Vec3::ZERO,
        };
        let forward = Ray::towards(Vec3::ZERO, Vec3::new(0.0, 0.0, -1.0));
        let (t, _) = scene.nearest_hit(&forward).unwrap();
        assert_eq!(t, 4.0);
        assert!(scene.in_shadow(&forward, 100.0));
        assert!(!scene.in_shadow(&forward, 3.0));
    }
}

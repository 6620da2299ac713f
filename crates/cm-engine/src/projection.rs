//! A 2-D projection of embeddings for the dashboard's map: the first two
//! principal components, found by power iteration on the centred vectors
//! (no matrix is ever formed: each step is two passes over the data).
//! Deterministic: a fixed start and a fixed sign convention.

/// Power-iteration steps per component.
const ITERATIONS: usize = 60;

/// Positions of `vectors` on their two principal components, each axis
/// scaled into [-1, 1]. Empty input gives empty output; one vector (or all
/// equal) lands at the origin.
pub(crate) fn project_2d(vectors: &[Vec<f32>]) -> Vec<(f64, f64)> {
    let n = vectors.len();
    let Some(dim) = vectors.first().map(Vec::len) else { return Vec::new() };
    let mut mean = vec![0f64; dim];
    for v in vectors {
        for (m, x) in mean.iter_mut().zip(v) {
            *m += f64::from(*x) / n as f64;
        }
    }
    let centred: Vec<Vec<f64>> =
        vectors.iter().map(|v| v.iter().zip(&mean).map(|(x, m)| f64::from(*x) - m).collect()).collect();
    let first = component(&centred, dim, None);
    let second = component(&centred, dim, first.as_deref());
    let axis = |c: &Option<Vec<f64>>| -> Vec<f64> {
        let Some(c) = c else { return vec![0.0; n] };
        let coords: Vec<f64> = centred.iter().map(|v| dot(v, c)).collect();
        let max = coords.iter().fold(0f64, |m, x| m.max(x.abs()));
        if max < 1e-12 { vec![0.0; n] } else { coords.iter().map(|x| x / max).collect() }
    };
    let (xs, ys) = (axis(&first), axis(&second));
    xs.into_iter().zip(ys).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalise(v: &mut [f64]) -> bool {
    let norm = dot(v, v).sqrt();
    if norm < 1e-12 {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

/// The leading eigenvector of the data's covariance, orthogonal to `not`.
fn component(data: &[Vec<f64>], dim: usize, not: Option<&[f64]>) -> Option<Vec<f64>> {
    // A fixed, non-degenerate start.
    let mut v: Vec<f64> = (0..dim).map(|i| 1.0 + (i % 7) as f64 * 0.1).collect();
    let orthogonalise = |v: &mut Vec<f64>| {
        if let Some(u) = not {
            let d = dot(v, u);
            v.iter_mut().zip(u).for_each(|(x, y)| *x -= d * y);
        }
    };
    orthogonalise(&mut v);
    if !normalise(&mut v) {
        return None;
    }
    for _ in 0..ITERATIONS {
        let mut next = vec![0f64; dim];
        for row in data {
            let p = dot(row, &v);
            next.iter_mut().zip(row).for_each(|(n, x)| *n += p * x);
        }
        orthogonalise(&mut next);
        if !normalise(&mut next) {
            return None;
        }
        v = next;
    }
    // The sign of an eigenvector is arbitrary: make its largest entry positive.
    let largest = v.iter().copied().fold(0f64, |m, x| if x.abs() > m.abs() { x } else { m });
    if largest < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_spread_along_the_main_direction_land_on_the_x_axis_in_range() {
        // Points on a line in 3-D, plus a little spread on a second direction.
        let vectors: Vec<Vec<f32>> =
            (0..20).map(|i| vec![i as f32, 2.0 * i as f32, if i % 2 == 0 { 0.5 } else { -0.5 }]).collect();
        let p = project_2d(&vectors);
        assert_eq!(p.len(), 20);
        assert!(p.iter().all(|(x, y)| x.abs() <= 1.0 + 1e-9 && y.abs() <= 1.0 + 1e-9));
        // The first axis orders the points as the line does.
        assert!(p.windows(2).all(|w| (w[1].0 - w[0].0).abs() > 1e-6));
        let spread_x = p.iter().map(|(x, _)| x).fold(0f64, |m, x| m.max(x.abs()));
        assert!((spread_x - 1.0).abs() < 1e-9);
        // The second axis separates the alternating offset.
        assert!(p.iter().enumerate().all(|(i, (_, y))| (y.signum() == p[0].1.signum()) == (i % 2 == 0)));
    }

    #[test]
    fn it_is_deterministic_and_handles_degenerate_input() {
        let vectors: Vec<Vec<f32>> =
            (0..50).map(|i| (0..8).map(|d| ((i * 7 + d * 3) % 11) as f32).collect()).collect();
        assert_eq!(project_2d(&vectors), project_2d(&vectors));
        assert!(project_2d(&[]).is_empty());
        assert_eq!(project_2d(&[vec![1.0, 2.0]]), vec![(0.0, 0.0)]);
        assert_eq!(project_2d(&[vec![1.0, 2.0], vec![1.0, 2.0]]), vec![(0.0, 0.0), (0.0, 0.0)]);
    }
}

//! The parts of a gRPC method path (`/package.Service/Method`) that Datadog's tracers tag.

/// A gRPC method path split into the parts Datadog's tracers tag.
///
/// ```
/// use datadog_tower::grpc::GrpcMethod;
///
/// let method = GrpcMethod::parse("/grpc.health.v1.Health/Check").unwrap();
/// assert_eq!(method.full, "/grpc.health.v1.Health/Check");
/// assert_eq!(method.package_service, "grpc.health.v1.Health");
/// assert_eq!(method.package, Some("grpc.health.v1"));
/// assert_eq!(method.service, "Health");
/// assert_eq!(method.method, "Check");
/// assert!(GrpcMethod::parse("/no-method").is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GrpcMethod<'a> {
    /// `/package.Service/Method`: the resource, `rpc.grpc.full_method` and `grpc.method.path`.
    pub full: &'a str,
    /// `package.Service`: `rpc.service`.
    pub package_service: &'a str,
    /// `package`, when the service has one: `grpc.method.package`.
    pub package: Option<&'a str>,
    /// `Service`: `grpc.method.service`.
    pub service: &'a str,
    /// `Method`: `rpc.method` and `grpc.method.name`.
    pub method: &'a str,
}

/// The longest method path taken as a resource; longer paths are not gRPC methods a server
/// defines but a caller's noise.
pub const MAX_PATH_BYTES: usize = 256;

impl<'a> GrpcMethod<'a> {
    /// Splits `path`; `None` when it is not `/service/method` with both parts non-empty (or is
    /// longer than [`MAX_PATH_BYTES`]).
    pub fn parse(path: &'a str) -> Option<Self> {
        if path.len() > MAX_PATH_BYTES {
            return None;
        }
        let rest = path.strip_prefix('/')?;
        let (package_service, method) = rest.split_once('/')?;
        if package_service.is_empty() || method.is_empty() || method.contains('/') {
            return None;
        }
        let (package, service) = match package_service.rsplit_once('.') {
            Some((package, service)) => (Some(package), service),
            None => (None, package_service),
        };
        Some(GrpcMethod {
            full: path,
            package_service,
            package,
            service,
            method,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_without_a_package_and_odd_paths() {
        let method = GrpcMethod::parse("/Greeter/SayHello").unwrap();
        assert_eq!(method.package, None);
        assert_eq!(method.service, "Greeter");
        for bad in ["", "/", "//", "/a/", "//b", "a/b", "/a/b/c"] {
            assert!(GrpcMethod::parse(bad).is_none(), "{bad}");
        }
        let long = format!("/{}/M", "s".repeat(MAX_PATH_BYTES));
        assert!(GrpcMethod::parse(&long).is_none());
    }
}

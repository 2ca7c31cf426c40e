//! A traced gRPC client: calls `grpc.health.v1.Health/Check` on `$TARGET` (default
//! `http://127.0.0.1:8080`) through `DatadogClientLayer`, so the call is a `grpc.client` span
//! and the server's `grpc.server` span continues its trace (the context travels in the call's
//! metadata).
//!
//! ```sh
//! cargo run -p grpc --bin check                               # the server as a whole ("")
//! cargo run -p grpc --bin check -- datadog.example.Hello      # one service
//! cargo run -p grpc --bin check -- no.such.Service            # NOT_FOUND, an error span
//! ```

use std::time::Duration;

use datadog_tower::DatadogClientLayer;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let datadog = datadog_subscriber::init();
    let target = std::env::var("TARGET").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    let service = std::env::args().nth(1).unwrap_or_default();
    let channel = Channel::from_shared(target)?.connect().await?;
    let traced = tower::ServiceBuilder::new()
        .layer(DatadogClientLayer::from_env())
        .service(channel);
    let mut health = HealthClient::new(traced);
    let request = HealthCheckRequest {
        service: service.clone(),
    };
    let answer = health
        .check(request)
        .instrument(tracing::info_span!(
            "health.check",
            resource = "health check"
        ))
        .await;
    match &answer {
        Ok(response) => println!("{service:?}: {:?}", response.get_ref().status()),
        Err(status) => println!("{service:?}: {:?} {}", status.code(), status.message()),
    }
    datadog.shutdown(Duration::from_secs(2));
    Ok(())
}

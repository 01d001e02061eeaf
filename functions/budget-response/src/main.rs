//! Lambda entry point of `budget-response`: configuration and clients once, then the runtime loop.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = shared::lambda::init().await;
    let config = budget_response::Config::from_env()?;
    let responder = budget_response::responder(
        aws_sdk_ecs::Client::new(&aws),
        aws_sdk_applicationautoscaling::Client::new(&aws),
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_sns::Client::new(&aws),
        config,
    );
    shared::lambda::serve(|event| budget_response::handle(&responder, event)).await
}

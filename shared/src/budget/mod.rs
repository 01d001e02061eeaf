//! Budget response: a runaway bill is stopped in non-production and reported everywhere. AWS
//! Budgets can stop EC2 and RDS but not ECS; this holds a non-production environment's services
//! down (with the capacity logic after-hours scaling uses), announces what was spent and done and
//! how to release it, and never scales or caps production.

mod config;
mod holds;
mod message;
mod notices;
mod runner;

pub use config::BudgetConfig;
pub use runner::{BudgetError, BudgetOutcome, BudgetResponder};

pub use message::{
    AlertType, Anomaly, BudgetAlert, BudgetInput, InvalidEvent, RootCause, budget_text, money,
    parse,
};

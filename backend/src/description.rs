//! The backend as `dapr-pair describe` tells it to the deploy checks: from its settings'
//! definition, its route table and the Dapr API its state store client calls.

use service_kit::description::Description;

use crate::configuration::{Config, STATESTORE};
use crate::{routes, state_store};

pub fn describe() -> Description {
    Description::new::<Config>()
        .routes(routes::ROUTES, None)
        .dapr_apis(&[state_store::STATE_API], None)
        .state_store(STATESTORE, None)
}

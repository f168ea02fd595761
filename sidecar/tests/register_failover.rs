//! Issue 4, "registrations survive a failover": on a 3-member ensemble, killing the member the
//! agent is connected to keeps its registration, because the agent's session moves to another
//! member instead of expiring.

#[allow(unused_macros)]
#[macro_use]
mod common;
mod register_support;

use std::time::Duration;

use common::ensemble::{Ensemble, EnsembleConfig};
use common::{NodeConfig, eventually};
use register_support::{Agent, TcpStandIn, owner_of};

const WAIT: Duration = Duration::from_secs(30);
const SESSION_TIMEOUT_MS: u64 = 6000;

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_agents_member_keeps_the_registration() {
    let ensemble = Ensemble::start_with(
        3,
        EnsembleConfig {
            node: NodeConfig::default(),
            ..EnsembleConfig::default()
        },
    )
    .await;
    ensemble.wait_for_leader().await;
    let server = TcpStandIn::started().await;
    let zk = ensemble.connect_string();
    let rpc_port = server.port().to_string();
    let timeout = SESSION_TIMEOUT_MS.to_string();
    let args: Vec<String> = [
        "--zk",
        zk.as_str(),
        "--parent",
        "/failover",
        "--host",
        "rs-0",
        "--rpc-port",
        rpc_port.as_str(),
        "--health-tcp",
        server.addr().as_str(),
        "--health-interval-ms",
        "100",
        "--max-backoff-ms",
        "500",
        "--session-timeout-ms",
        timeout.as_str(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let agent = Agent::spawn("failover", &args);

    let observer = ensemble.client_to_any().await;
    let children = eventually("the agent registered", WAIT, || async {
        let children = observer.list_children("/failover").await.ok()?;
        (children.len() == 1).then_some(children)
    })
    .await;
    let path = format!("/failover/{}", children[0]);
    let owner = owner_of(&observer, &path).await.expect("registered");

    // Find the member holding the agent's session, and kill it.
    let mut holder = None;
    for (i, member) in ensemble.members().iter().enumerate() {
        if member.holds_session(owner).await {
            holder = Some(i);
        }
    }
    let holder = holder.expect("one member holds the agent's session");
    ensemble.member(holder).kill9();

    // The observer may itself have been on that member; reconnect through the survivors.
    let survivors: Vec<usize> = (0..3).filter(|&i| i != holder).collect();
    let hosts = ensemble.connect_string_of(&survivors);
    // If the killed member led, the survivors refuse sessions until they have elected a new
    // leader; on a loaded machine that can outlast one connect attempt, so retry (bounded).
    let observer = eventually("a session on the survivors", WAIT, || async {
        zookeeper_client::Client::connect(&hosts).await.ok()
    })
    .await;

    // The session moves: some survivor holds it.
    eventually("the agent's session moved to a survivor", WAIT, || async {
        for &i in &survivors {
            if ensemble.member(i).holds_session(owner).await {
                return Some(());
            }
        }
        None
    })
    .await;
    // Well past the session timeout the znode is still there, still owned by the same session:
    // it neither expired nor was re-created.
    tokio::time::sleep(Duration::from_millis(2 * SESSION_TIMEOUT_MS)).await;
    assert_eq!(
        owner_of(&observer, &path).await,
        Some(owner),
        "the registration survived the failover in the same session\n{}",
        agent.log()
    );
}

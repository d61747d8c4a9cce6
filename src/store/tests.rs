//! The domain operations against a real pool, without Node.

use std::sync::Arc;

use serde_json::{json, Value as Json};

use crate::config::PoolConfig;
use crate::error::Result;
use crate::pool::job::Output;
use crate::pool::sql::wait;
use crate::pool::Pool;
use crate::sqlite::Value;
use crate::store::inputs::{NewAgent, NewSwarm, Update};
use crate::store::seam::Storage;
use crate::store::{OpStats, Store};

fn store() -> Result<Store> {
    let pool = Pool::open(
        ":memory:",
        PoolConfig {
            max_readers: 2,
            max_workers: 1,
            ..PoolConfig::default()
        },
    )?;
    let store = Store::new(pool as Arc<dyn Storage>, Arc::new(OpStats::default()));
    wait(|d| store.migrate(d))?;
    Ok(store)
}

fn json(out: Output) -> Json {
    match out {
        Output::Json(v) => v,
        Output::Records(records) => crate::store::rows::to_json(&records),
        other => panic!("expected JSON, got {other:?}"),
    }
}

fn swarm(id: &str) -> NewSwarm {
    NewSwarm {
        id: id.into(),
        name: "n".into(),
        topology: "mesh".into(),
        max_agents: 5,
        strategy: None,
        metadata: "{\"a\":1}".into(),
    }
}

fn agent(id: &str, swarm: &str) -> NewAgent {
    NewAgent {
        id: id.into(),
        swarm_id: Some(swarm.into()),
        name: id.into(),
        kind: "researcher".into(),
        capabilities: "[\"x\"]".into(),
        neural_config: "{}".into(),
        metrics: "{}".into(),
    }
}

#[test]
fn swarms_and_agents_round_trip() -> Result<()> {
    let s = store()?;
    let first = json(wait(|d| s.create_swarm(swarm("s1"), d))?);
    assert_eq!(first["changes"], 1);
    let again = json(wait(|d| s.create_swarm(swarm("s1"), d))?);
    assert_eq!(again, json!({ "id": "s1", "changes": 0, "lastInsertRowid": null }));
    wait(|d| s.create_agent(agent("a1", "s1"), d))?;
    let got = json(wait(|d| s.get_agent("a1".into(), d))?);
    assert_eq!(got["capabilities"], json!(["x"]));
    assert_eq!(got["status"], "idle");
    let err = wait(|d| s.create_agent(agent("a2", "nope"), d)).expect_err("fk");
    assert_eq!(err.code(), "SQLITE_CONSTRAINT_FOREIGNKEY");
    assert!(err.to_string().contains("nope"));
    Ok(())
}

#[test]
fn memory_upserts_and_never_loses_a_write() -> Result<()> {
    let s = store()?;
    wait(|d| s.create_swarm(swarm("s"), d))?;
    wait(|d| s.create_agent(agent("a", "s"), d))?;
    let (tx, rx) = crossbeam_channel::unbounded();
    for i in 0..2_000 {
        let tx = tx.clone();
        s.store_memory(
            "a".into(),
            format!("k{i}"),
            Some(i.to_string()),
            None,
            Box::new(move |r| tx.send(r.is_ok()).expect("send")),
        );
    }
    assert_eq!(rx.iter().take(2_000).filter(|ok| *ok).count(), 2_000);
    let all = json(wait(|d| s.get_all_memory("a".into(), d))?);
    assert_eq!(all.as_array().map(Vec::len), Some(2_000));
    let before = json(wait(|d| s.get_memory("a".into(), "k1".into(), d))?);
    std::thread::sleep(std::time::Duration::from_millis(5));
    wait(|d| s.store_memory("a".into(), "k1".into(), Some("\"new\"".into()), None, d))?;
    let after = json(wait(|d| s.get_memory("a".into(), "k1".into(), d))?);
    assert_eq!(after["value"], "new");
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(after["updated_at"].as_str() > before["updated_at"].as_str());
    Ok(())
}

#[test]
fn updates_touch_only_known_columns() -> Result<()> {
    let s = store()?;
    wait(|d| s.create_swarm(swarm("s"), d))?;
    let task = crate::store::inputs::NewTask {
        id: "t".into(),
        swarm_id: Some("s".into()),
        description: Some("d".into()),
        priority: "high".into(),
        status: "pending".into(),
        assigned_agents: "[]".into(),
    };
    wait(|d| s.create_task(task, d))?;
    let update = Update::new(
        vec![
            ("status", Value::from("done")),
            ("result", Value::from("{\"ok\":true}")),
        ],
        "updateTask",
    )?;
    wait(|d| s.update_task("t".into(), update, d))?;
    let got = json(wait(|d| s.get_task("t".into(), d))?);
    assert_eq!(got["status"], "done");
    assert_eq!(got["result"], json!({ "ok": true }));
    Ok(())
}

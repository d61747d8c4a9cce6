//! Reading the persistence API's JavaScript arguments into validated `store::inputs`. Every
//! refusal is `INVALID_ARGUMENT` naming the field; nothing is written for a refused call.

use napi::sys::ValueType as T;

use crate::error::{Error, Result};
use std::fmt::Display;

use crate::js::convert::{to_value, Names};
use crate::js::raw::{self, Env, JsValue};
use crate::store::inputs::{field, Field, NewAgent, NewNetwork, NewSwarm, NewTask, Storage, Update};

fn is_absent(env: Env, v: JsValue) -> Result<bool> {
    Ok(matches!(raw::type_of(env, v)?, T::napi_undefined | T::napi_null))
}

/// A non-empty string argument.
pub(crate) fn string(env: Env, v: JsValue, what: impl Display) -> Result<String> {
    if raw::type_of(env, v)? != T::napi_string {
        return Err(Error::invalid(format!("{what} must be a non-empty string")));
    }
    let s = raw::get_string(env, v)?;
    if s.is_empty() {
        return Err(Error::invalid(format!("{what} must be a non-empty string")));
    }
    Ok(s)
}

/// Two required string arguments, such as `(agentId, key)`.
pub(crate) fn strings2(env: Env, a: JsValue, a_name: &str, b: JsValue, b_name: &str) -> Result<(String, String)> {
    Ok((string(env, a, a_name)?, string(env, b, b_name)?))
}

pub(crate) fn opt_string(env: Env, v: Option<JsValue>, what: impl Display) -> Result<Option<String>> {
    match v {
        Some(v) if !is_absent(env, v)? => string(env, v, what).map(Some),
        _ => Ok(None),
    }
}

/// A finite number, or None when absent.
pub(crate) fn opt_number(env: Env, v: Option<JsValue>, what: impl Display) -> Result<Option<f64>> {
    let Some(v) = v else { return Ok(None) };
    match raw::type_of(env, v)? {
        T::napi_undefined | T::napi_null => Ok(None),
        T::napi_number => {
            let n = raw::get_f64(env, v)?;
            if n.is_finite() {
                Ok(Some(n))
            } else {
                Err(Error::invalid(format!("{what} must be a finite number")))
            }
        }
        _ => Err(Error::invalid(format!("{what} must be a number"))),
    }
}

/// `JSON.stringify(value)` with the `JSON.stringify` kept in `names` (every argument stored as
/// JSON, so code that replaces the global later changes none of them), or None when it yields
/// undefined; cycles and BigInt are refused.
pub(crate) fn json(env: Env, v: JsValue, what: impl Display, names: &Names) -> Result<Option<String>> {
    let kept = names.json_stringify.get(env);
    raw::json_stringify(env, v, kept).map_err(|why| Error::invalid(format!("{what} cannot be stored as JSON: {why}")))
}

fn object(env: Env, v: JsValue, what: &str) -> Result<JsValue> {
    if raw::type_of(env, v)? != T::napi_object || raw::is_array(env, v)? {
        return Err(Error::invalid(format!("{what} must be an object")));
    }
    Ok(v)
}

/// An argument object whose fields are read by name, the names kept as JavaScript strings in
/// `names` (made and internalized once, not per call).
struct Obj<'a> {
    env: Env,
    v: JsValue,
    what: &'a str,
    names: &'a Names,
}

/// `object.field`, formatted only for an error message.
struct Label<'a>(&'a str, &'a str);

impl Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl Obj<'_> {
    fn get(&self, key: &str) -> Result<JsValue> {
        let name = self.names.keys.key(self.env, key)?;
        raw::get(self.env, self.v, name)
    }
    fn string(&self, key: &str) -> Result<String> {
        string(self.env, self.get(key)?, Label(self.what, key))
    }
    fn opt_string(&self, key: &str) -> Result<Option<String>> {
        opt_string(self.env, Some(self.get(key)?), Label(self.what, key))
    }
    /// JSON text of a field; `default` when the field is absent (the original's `x || {}`).
    fn json_or(&self, key: &str, default: &str) -> Result<String> {
        let v = self.get(key)?;
        if is_absent(self.env, v)? {
            return Ok(default.into());
        }
        Ok(json(self.env, v, Label(self.what, key), self.names)?.unwrap_or_else(|| default.into()))
    }
}

pub(crate) fn new_swarm(env: Env, v: JsValue, names: &Names) -> Result<NewSwarm> {
    let o = Obj {
        env,
        v: object(env, v, "swarm")?,
        what: "swarm",
        names,
    };
    let max = opt_number(env, Some(o.get("maxAgents")?), "swarm.maxAgents")?
        .ok_or_else(|| Error::invalid("swarm.maxAgents is required (a whole number)"))?;
    if max.fract() != 0.0 || max < 0.0 {
        return Err(Error::invalid("swarm.maxAgents must be a whole number ≥ 0"));
    }
    Ok(NewSwarm {
        id: o.string("id")?,
        name: o.string("name")?,
        topology: o.string("topology")?,
        max_agents: max as i64,
        strategy: o.opt_string("strategy")?,
        metadata: o.json_or("metadata", "{}")?,
    })
}

pub(crate) fn new_agent(env: Env, v: JsValue, names: &Names) -> Result<NewAgent> {
    let o = Obj {
        env,
        v: object(env, v, "agent")?,
        what: "agent",
        names,
    };
    Ok(NewAgent {
        id: o.string("id")?,
        swarm_id: o.opt_string("swarmId")?,
        name: o.string("name")?,
        kind: o.string("type")?,
        capabilities: o.json_or("capabilities", "[]")?,
        neural_config: o.json_or("neuralConfig", "{}")?,
        metrics: o.json_or("metrics", "{}")?,
    })
}

pub(crate) fn new_task(env: Env, v: JsValue, names: &Names) -> Result<NewTask> {
    let o = Obj {
        env,
        v: object(env, v, "task")?,
        what: "task",
        names,
    };
    Ok(NewTask {
        id: o.string("id")?,
        swarm_id: o.opt_string("swarmId")?,
        description: o.opt_string("description")?,
        priority: o.opt_string("priority")?.unwrap_or_else(|| "medium".into()),
        status: o.opt_string("status")?.unwrap_or_else(|| "pending".into()),
        assigned_agents: o.json_or("assignedAgents", "[]")?,
    })
}

pub(crate) fn new_network(env: Env, v: JsValue, names: &Names) -> Result<NewNetwork> {
    let o = Obj {
        env,
        v: object(env, v, "network")?,
        what: "network",
        names,
    };
    let architecture = o.get("architecture")?;
    if is_absent(env, architecture)? {
        return Err(Error::invalid("network.architecture is required"));
    }
    let weights = o.get("weights")?;
    Ok(NewNetwork {
        agent_id: o.string("agentId")?,
        architecture: json(env, architecture, "network.architecture", names)?
            .ok_or_else(|| Error::invalid("network.architecture is required"))?,
        weights: if is_absent(env, weights)? {
            None
        } else {
            json(env, weights, "network.weights", names)?
        },
        training_data: o.json_or("trainingData", "{}")?,
        performance_metrics: o.json_or("performanceMetrics", "{}")?,
    })
}

/// An update object whose keys must all be known fields (either spelling).
pub(crate) fn update(env: Env, v: JsValue, fields: &'static [Field], what: &str, names: &Names) -> Result<Update> {
    let v = object(env, v, &format!("{what} updates"))?;
    let mut sets = Vec::new();
    for (key, value) in raw::own_keys(env, v)? {
        let f = field(fields, &key, what)?;
        let label = || format!("{what}: field {key}");
        let stored = match f.storage {
            Storage::Json => json(env, value, label(), names)?.map_or(crate::sqlite::Value::Null, Into::into),
            Storage::Plain => to_value(env, value, &label)?,
        };
        sets.push((f.column, stored));
    }
    Update::new(sets, what)
}

//! JSON Schema (OpenAPI 3.1's dialect) for the contract's types, as the runtime reads and
//! writes them: serde's view for bodies and nested types, the runtime's binding rules
//! (`optional`, `default`, `options`, `range`) for the fields a request binds.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Number, Value};

use crate::api::tag::NumberRange;
use crate::model::TypeRef;

/// The `$ref` prefix of component schemas.
pub const COMPONENTS: &str = "#/components/schemas/";

/// `type`: one name, or a name and `"null"`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Types {
    /// `"string"`
    One(&'static str),
    /// `["string", "null"]`
    Many(Vec<&'static str>),
}

/// One schema. Only the keywords rustctl writes; empty ones are left out.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// `$ref`
    #[serde(rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `type`
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<Types>,
    /// `format`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    /// `description`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `properties`, in field order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<IndexMap<String, Schema>>,
    /// `required`
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// `additionalProperties` (a map's values)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_properties: Option<Box<Schema>>,
    /// `propertyNames` (a map's keys, when they are not strings)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_names: Option<Box<Schema>>,
    /// `pattern`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<&'static str>,
    /// `minLength`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// `items`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<Schema>>,
    /// `minItems`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    /// `maxItems`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// `enum`
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enumeration: Option<Vec<Value>>,
    /// `default`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// `minimum`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<Number>,
    /// `exclusiveMinimum` (a number, as in 3.1)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive_minimum: Option<Number>,
    /// `maximum`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<Number>,
    /// `exclusiveMaximum`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive_maximum: Option<Number>,
    /// `anyOf`
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<Schema>,
}

impl Schema {
    /// `{"type": ty}`
    pub fn of(ty: &'static str) -> Schema {
        Schema {
            ty: Some(Types::One(ty)),
            ..Schema::default()
        }
    }

    /// A reference to a component schema.
    pub fn reference(name: &str) -> Schema {
        Schema {
            reference: Some(format!("{COMPONENTS}{name}")),
            ..Schema::default()
        }
    }

    /// The same schema, `null` allowed too.
    pub fn nullable(mut self) -> Schema {
        match &self.ty {
            Some(Types::One(t)) if self.reference.is_none() && self.any_of.is_empty() => {
                self.ty = Some(Types::Many(vec![t, "null"]));
                self
            }
            Some(Types::Many(_)) => self,
            _ if self == Schema::default() => self, // anything, null included
            _ => Schema {
                any_of: vec![self, Schema::of("null")],
                ..Schema::default()
            },
        }
    }

    /// The scalar a value of this schema holds: itself, or its items for a list.
    fn innermost(&mut self) -> &mut Schema {
        if self.items.is_none() {
            return self;
        }
        match self.items.as_deref_mut() {
            Some(items) => items.innermost(),
            None => unreachable!("checked above"),
        }
    }
}

/// What kind of scalar a builtin is, for typing `default`, `options` and limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// `String`
    Text,
    /// `bool`
    Bool,
    /// A signed integer of this many bits.
    Int(u32),
    /// An unsigned integer of this many bits.
    Uint(u32),
    /// `f32` or `f64`
    Float(u32),
    /// `serde_json::Value`
    Any,
}

impl Scalar {
    /// The scalar of a builtin Rust type name, as the lowering writes it.
    pub fn of(builtin: &str) -> Option<Scalar> {
        Some(match builtin {
            "String" => Scalar::Text,
            "bool" => Scalar::Bool,
            "i8" => Scalar::Int(8),
            "i16" => Scalar::Int(16),
            "i32" => Scalar::Int(32),
            "i64" => Scalar::Int(64),
            "u8" => Scalar::Uint(8),
            "u16" => Scalar::Uint(16),
            "u32" => Scalar::Uint(32),
            "u64" => Scalar::Uint(64),
            "f32" => Scalar::Float(32),
            "f64" => Scalar::Float(64),
            "serde_json::Value" => Scalar::Any,
            _ => return None,
        })
    }

    /// Its schema: integers carry their width's limits, which serde enforces.
    pub fn schema(self) -> Schema {
        match self {
            Scalar::Text => Schema::of("string"),
            Scalar::Bool => Schema::of("boolean"),
            Scalar::Any => Schema::default(),
            Scalar::Float(bits) => Schema {
                format: Some(if bits == 32 { "float" } else { "double" }),
                ..Schema::of("number")
            },
            Scalar::Int(bits) => Schema {
                format: Some(if bits <= 32 { "int32" } else { "int64" }),
                minimum: Some(Number::from(-(1i128 << (bits - 1)) as i64)),
                maximum: Some(Number::from(((1i128 << (bits - 1)) - 1) as i64)),
                ..Schema::of("integer")
            },
            // OpenAPI's formats are signed: u32 fits int64, u64 fits neither.
            Scalar::Uint(bits) => Schema {
                format: match bits {
                    0..32 => Some("int32"),
                    32 => Some("int64"),
                    _ => None,
                },
                minimum: Some(Number::from(0u64)),
                maximum: Some(Number::from(((1u128 << bits) - 1) as u64)),
                ..Schema::of("integer")
            },
        }
    }

    /// A tag's value text as this scalar's JSON value (`default=10` on an integer is `10`);
    /// text that is not one stays a string, as the runtime then compares it as text.
    pub fn value(self, text: &str) -> Value {
        let parsed = match self {
            Scalar::Text | Scalar::Any => None,
            Scalar::Bool => match text {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Scalar::Int(_) => text.parse::<i64>().ok().map(Value::from),
            Scalar::Uint(_) => text.parse::<u64>().ok().map(Value::from),
            Scalar::Float(_) => text
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number),
        };
        parsed.unwrap_or_else(|| Value::String(text.to_string()))
    }
}

/// The innermost scalar of a type (through options, boxes, lists), if it is a builtin.
pub fn scalar_of(ty: &TypeRef) -> Option<Scalar> {
    match ty {
        TypeRef::Builtin(b) => Scalar::of(b),
        TypeRef::Option(t) | TypeRef::Boxed(t) | TypeRef::Vec(t) | TypeRef::Array(t, _) => {
            scalar_of(t)
        }
        TypeRef::Declared(_) | TypeRef::Map(..) => None,
    }
}

/// A type as serde writes and reads it in JSON.
pub fn type_schema(ty: &TypeRef) -> Schema {
    match ty {
        TypeRef::Builtin(b) => Scalar::of(b).map_or_else(Schema::default, Scalar::schema),
        TypeRef::Declared(name) => Schema::reference(name),
        TypeRef::Option(t) => type_schema(t).nullable(),
        TypeRef::Boxed(t) => type_schema(t),
        TypeRef::Vec(t) => Schema {
            items: Some(Box::new(type_schema(t))),
            ..Schema::of("array")
        },
        TypeRef::Array(t, n) => Schema {
            items: Some(Box::new(type_schema(t))),
            min_items: Some(*n),
            max_items: Some(*n),
            ..Schema::of("array")
        },
        TypeRef::Map(k, v) => Schema {
            additional_properties: Some(Box::new(type_schema(v))),
            property_names: key_pattern(k).map(|pattern| {
                Box::new(Schema {
                    pattern: Some(pattern),
                    ..Schema::of("string")
                })
            }),
            ..Schema::of("object")
        },
    }
}

/// JSON object keys are strings; serde_json writes other map keys as their text.
fn key_pattern(key: &TypeRef) -> Option<&'static str> {
    match scalar_of(key)? {
        Scalar::Text | Scalar::Any => None,
        Scalar::Bool => Some("^(true|false)$"),
        Scalar::Int(_) => Some("^-?(0|[1-9][0-9]*)$"),
        Scalar::Uint(_) => Some("^(0|[1-9][0-9]*)$"),
        Scalar::Float(_) => Some("^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)?$"),
    }
}

/// The allowed values of `options=`, split as the runtime splits them
/// (`rustctl_runtime::rules::split_options`: `[a,b]` or `a|b`; rustctl does not depend on
/// the runtime crate, so the few lines are repeated here).
pub fn split_options(text: &str) -> Vec<&str> {
    let t = text.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    let sep = if inner.contains('|') { '|' } else { ',' };
    inner
        .split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The rules the runtime checks on a bound field, on the scalar they apply to.
#[derive(Debug, Clone, Default)]
pub struct Rules<'a> {
    /// `default=`
    pub default: Option<&'a str>,
    /// `options=`
    pub options: Option<&'a str>,
    /// `range=`
    pub range: Option<&'a NumberRange>,
}

impl Rules<'_> {
    /// Adds the rules to `schema` of a field whose scalar is `scalar`. `per_value`: the
    /// runtime checks each value of a list (path, form, header); a JSON field is checked as
    /// one value, so rules on a JSON list apply to nothing it can hold and are left out.
    pub fn apply(&self, schema: &mut Schema, scalar: Option<Scalar>, per_value: bool) {
        let Some(scalar) = scalar else { return };
        if let Some(d) = self.default {
            schema.default = Some(if schema.ty == Some(Types::One("array")) {
                Value::Array(vec![scalar.value(d)])
            } else {
                scalar.value(d)
            });
        }
        let is_list = schema.items.is_some();
        if is_list && !per_value {
            return;
        }
        let target = schema.innermost();
        if let Some(options) = self.options {
            target.enumeration = Some(
                split_options(options)
                    .into_iter()
                    .map(|o| scalar.value(o))
                    .collect(),
            );
        }
        let numeric = matches!(scalar, Scalar::Int(_) | Scalar::Uint(_) | Scalar::Float(_));
        if let (Some(range), true) = (self.range, numeric) {
            if let Some(lower) = range.lower {
                tighten(target, lower.value, lower.inclusive, true);
            }
            if let Some(upper) = range.upper {
                tighten(target, upper.value, upper.inclusive, false);
            }
        }
    }
}

/// Narrows the schema's lower (or upper) limit to `value` when that is tighter than the type's.
fn tighten(schema: &mut Schema, value: f64, inclusive: bool, lower: bool) {
    let current = if lower {
        schema.minimum.as_ref()
    } else {
        schema.maximum.as_ref()
    }
    .and_then(Number::as_f64);
    let tighter = current.is_none_or(|c| if lower { value >= c } else { value <= c });
    if !tighter {
        return;
    }
    let number = if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Number::from(value as i64)
    } else {
        match Number::from_f64(value) {
            Some(n) => n,
            None => return,
        }
    };
    match (lower, inclusive) {
        (true, true) => schema.minimum = Some(number),
        (true, false) => {
            schema.minimum = None;
            schema.exclusive_minimum = Some(number);
        }
        (false, true) => schema.maximum = Some(number),
        (false, false) => {
            schema.maximum = None;
            schema.exclusive_maximum = Some(number);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tag::Bound;

    #[test]
    fn integer_width_limits() {
        let s = Scalar::Int(8).schema();
        assert_eq!(s.minimum, Some(Number::from(-128)));
        assert_eq!(s.maximum, Some(Number::from(127)));
        let s = Scalar::Uint(64).schema();
        assert_eq!(s.maximum, Some(Number::from(u64::MAX)));
    }

    #[test]
    fn open_range_is_exclusive_and_tightens_the_type() {
        let range = NumberRange {
            lower: Some(Bound {
                value: 0.0,
                inclusive: false,
            }),
            upper: Some(Bound {
                value: 100.0,
                inclusive: true,
            }),
            text: "(0:100]".into(),
        };
        let mut s = Scalar::Int(64).schema();
        Rules {
            range: Some(&range),
            ..Rules::default()
        }
        .apply(&mut s, Some(Scalar::Int(64)), true);
        assert_eq!(s.minimum, None);
        assert_eq!(s.exclusive_minimum, Some(Number::from(0)));
        assert_eq!(s.maximum, Some(Number::from(100)));
    }

    #[test]
    fn options_and_default_are_typed() {
        let mut s = Scalar::Int(64).schema();
        Rules {
            default: Some("2"),
            options: Some("1|2"),
            range: None,
        }
        .apply(&mut s, Some(Scalar::Int(64)), true);
        assert_eq!(s.default, Some(Value::from(2)));
        assert_eq!(s.enumeration, Some(vec![Value::from(1), Value::from(2)]));
    }

    #[test]
    fn nullable_reference_is_any_of() {
        let s = Schema::reference("A").nullable();
        assert_eq!(s.any_of.len(), 2);
        assert_eq!(
            Schema::of("string").nullable().ty,
            Some(Types::Many(vec!["string", "null"]))
        );
    }
}

//! A case-insensitive view of a parsed config document.
//!
//! go-zero matches config keys case-insensitively (`maxconns`, `MaxConns` and `MAXCONNS` are one
//! key). serde matches field names exactly, and no maintained crate offers case-insensitive
//! matching for *arbitrary* user structs without annotating each one. So this module wraps a
//! parsed [`serde_json::Value`] in a [`serde::Deserializer`] that, whenever a struct is
//! deserialized, renames the document's keys to the struct's own field names (comparing
//! lower-cased, ignoring `_` and `-`). Every derived struct, the runtime's and the user's, gets the
//! same treatment without extra attributes. Keys that match no field are recorded as *unknown*
//! (with their full key path) instead of failing, so a typo is a warning, not a crash.
//!
//! It also coerces strings to numbers/bools and scalars to strings, because `${VAR}` expansion
//! and YAML quoting routinely turn one into the other.
//!
//! A struct with a field named [`OTHER_SECTIONS`] also receives, in that field, every key none of
//! its other fields matched, as written and with its value as parsed (still reported unknown):
//! `RestConf` keeps the sections a route group names at run time (`jwt: AdminAuth`) that way.
//!
//! Limitation: `#[serde(flatten)]` bypasses `deserialize_struct`, so flattened fields are matched
//! exactly; compose configs with [`super::load_service`] instead of flattening.

use std::cell::RefCell;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Number, Value};

type Error = serde_json::Error;

/// The field name that asks for the keys no other field matched (see the module docs).
pub(crate) const OTHER_SECTIONS: &str = "$other";

/// Collects the key paths that matched no struct field.
#[derive(Default)]
pub(crate) struct Unknown(RefCell<Vec<String>>);

impl Unknown {
    pub(crate) fn into_inner(self) -> Vec<String> {
        self.0.into_inner()
    }
}

pub(crate) struct De<'a> {
    value: Value,
    path: String,
    unknown: &'a Unknown,
}

impl<'a> De<'a> {
    pub(crate) fn new(value: Value, unknown: &'a Unknown) -> Self {
        Self::at(value, String::new(), unknown)
    }

    /// A deserializer for `value` found at the dotted key `path`.
    pub(crate) fn at(value: Value, path: String, unknown: &'a Unknown) -> Self {
        De {
            value,
            path,
            unknown,
        }
    }

    fn child(&self, key: &str, value: Value) -> De<'a> {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        De {
            value,
            path,
            unknown: self.unknown,
        }
    }
}

/// The form two keys are compared in: lower case, without `_` and `-`.
pub(crate) fn fold(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn number_from_str(s: &str) -> Option<Number> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = t.parse::<u64>() {
        return Some(u.into());
    }
    t.parse::<f64>().ok().and_then(Number::from_f64)
}

/// Numbers written as strings (`Port: "${PORT}"`) are read as numbers.
macro_rules! forward_numbers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            if let Value::String(s) = &self.value {
                if let Some(n) = number_from_str(s) {
                    return De { value: Value::Number(n), ..self }.deserialize_any(visitor);
                }
            }
            self.deserialize_any(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for De<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let De {
            value,
            path,
            unknown,
        } = self;
        let parent = De {
            value: Value::Null,
            path,
            unknown,
        };
        match value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => {
                let mut seq = Seq {
                    items: items.into_iter().enumerate(),
                    parent: &parent,
                };
                visitor.visit_seq(&mut seq)
            }
            Value::Object(map) => {
                let entries = map.into_iter().collect::<Vec<_>>();
                visitor.visit_map(Entries {
                    entries: entries.into_iter(),
                    pending: None,
                    parent: &parent,
                })
            }
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let map = match self.value {
            Value::Object(map) => map,
            // `Log:` with nothing under it is an empty section, not an error.
            Value::Null => Map::new(),
            other => {
                return De {
                    value: other,
                    ..self
                }
                .deserialize_any(visitor);
            }
        };
        let mut entries = Vec::with_capacity(map.len());
        let mut others = fields.contains(&OTHER_SECTIONS).then(Map::new);
        for (key, value) in map {
            let folded = fold(&key);
            match fields
                .iter()
                .find(|f| **f != OTHER_SECTIONS && fold(f) == folded)
            {
                Some(field) => entries.push(((*field).to_owned(), value)),
                None => {
                    let path = if self.path.is_empty() {
                        key.clone()
                    } else {
                        format!("{}.{key}", self.path)
                    };
                    self.unknown.0.borrow_mut().push(path);
                    if let Some(others) = &mut others {
                        others.insert(key, value);
                    }
                }
            }
        }
        if let Some(others) = others {
            entries.push((OTHER_SECTIONS.to_owned(), Value::Object(others)));
        }
        visitor.visit_map(Entries {
            entries: entries.into_iter(),
            pending: None,
            parent: &De {
                value: Value::Null,
                path: self.path,
                unknown: self.unknown,
            },
        })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => {
                let folded = fold(&s);
                let canonical = variants
                    .iter()
                    .find(|v| fold(v) == folded)
                    .map_or(s, |v| (*v).to_owned());
                visitor.visit_enum(canonical.into_deserializer())
            }
            other => de::Deserializer::deserialize_enum(other, name, variants, visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_seq(&mut Seq {
                items: Vec::new().into_iter().enumerate(),
                parent: &self,
            }),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Number(n) => visitor.visit_string(n.to_string()),
            Value::Bool(b) => visitor.visit_string(b.to_string()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if let Value::String(s) = &self.value {
            match s.trim().to_ascii_lowercase().as_str() {
                "true" => return visitor.visit_bool(true),
                "false" => return visitor.visit_bool(false),
                _ => {}
            }
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    forward_numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    forward_to_deserialize_any! {
        char bytes byte_buf unit unit_struct tuple tuple_struct map identifier ignored_any
    }
}

struct Seq<'p, 'a> {
    items: std::iter::Enumerate<std::vec::IntoIter<Value>>,
    parent: &'p De<'a>,
}

impl<'de> SeqAccess<'de> for &mut Seq<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some((i, value)) => {
                let de = De {
                    value,
                    path: format!("{}[{i}]", self.parent.path),
                    unknown: self.parent.unknown,
                };
                seed.deserialize(de).map(Some)
            }
            None => Ok(None),
        }
    }
}

struct Entries<'p, 'a> {
    entries: std::vec::IntoIter<(String, Value)>,
    pending: Option<(String, Value)>,
    parent: &'p De<'a>,
}

impl<'de> MapAccess<'de> for Entries<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, value)) => {
                let k = seed.deserialize(key.clone().into_deserializer())?;
                self.pending = Some((key, value));
                Ok(Some(k))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("value requested before key"))?;
        seed.deserialize(self.parent.child(&key, value))
    }
}

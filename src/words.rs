//! The words of the enums that appear on the wire, in labels and in logs.
//!
//! Each such enum keeps its words next to its definition: an `ALL` array of
//! its values and an `as_str` method giving the word (the same as its serde
//! name). [`words!`](crate::words!) then derives `Display` and `FromStr` from
//! those two, so a word is written once and read back by the same table.

/// A word that names no value of an enum: the error of the `FromStr`
/// implementations made by [`words!`](crate::words!).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {found:?}: use {}", expected.join(", "))]
pub struct UnknownWord {
    /// What the word should have named (`availability`, `check outcome`…).
    pub what: &'static str,
    /// The word given.
    pub found: String,
    /// Every word accepted, in declaration order.
    pub expected: Vec<&'static str>,
}

/// The value of `all` whose word (`as_str`) is exactly `found`.
pub fn parse<T: Copy>(
    all: &[T],
    as_str: fn(T) -> &'static str,
    what: &'static str,
    found: &str,
) -> Result<T, UnknownWord> {
    all.iter()
        .copied()
        .find(|value| as_str(*value) == found)
        .ok_or_else(|| UnknownWord {
            what,
            found: found.to_owned(),
            expected: all.iter().copied().map(as_str).collect(),
        })
}

/// Implements `Display` (the word) and `FromStr` (the exact word back, else
/// [`UnknownWord`]) for an enum with `const ALL: [Self; N]` and
/// `fn as_str(self) -> &'static str`. `$what` names the enum in errors.
#[macro_export]
macro_rules! words {
    ($type:ty, $what:literal) => {
        impl ::std::fmt::Display for $type {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $type {
            type Err = $crate::words::UnknownWord;

            fn from_str(word: &str) -> Result<Self, Self::Err> {
                $crate::words::parse(&Self::ALL, Self::as_str, $what, word)
            }
        }
    };
}

/// Asserts that every value's word parses back to it and equals its serde
/// name (for enums that serialise as a plain string).
#[cfg(test)]
pub fn assert_words<T>(all: &[T], as_str: fn(T) -> &'static str)
where
    T: Copy + std::fmt::Debug + PartialEq + std::str::FromStr + serde::Serialize,
    <T as std::str::FromStr>::Err: std::fmt::Debug,
{
    for value in all {
        let word = as_str(*value);
        assert_eq!(word.parse::<T>().unwrap(), *value, "{word} parses back");
        assert_eq!(
            serde_json::to_value(value).unwrap(),
            serde_json::Value::String(word.to_owned()),
            "{value:?}: the word is the serde name"
        );
    }
    assert!("no such word".parse::<T>().is_err());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_words_list_the_known_ones() {
        let err = parse(
            &[1u8, 2],
            |n| if n == 1 { "one" } else { "two" },
            "number",
            "three",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "unknown number \"three\": use one, two");
        assert_eq!(
            parse(
                &[1u8, 2],
                |n| if n == 1 { "one" } else { "two" },
                "number",
                "two"
            ),
            Ok(2)
        );
    }
}

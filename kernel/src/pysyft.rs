//! PySyft's names, and Veil's for the same things: what a PySyft user types out of habit, matched
//! in compile errors (rustc quotes a name it cannot find in backticks), so the error ends with the
//! Veil spelling; `%help pysyft` prints the whole table, and the README has it.

/// One PySyft habit: the name rustc quotes when a cell uses it, how PySyft writes it, and what
/// Veil writes instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Habit {
    /// The name as a compile error quotes it (`api`, `mock_data`, `sy`).
    pub name: &'static str,
    /// How a PySyft user writes it.
    pub pysyft: &'static str,
    /// Veil's spelling.
    pub veil: &'static str,
}

/// Every habit the hints know.
pub const HABITS: &[Habit] = &[
    Habit {
        name: "sy",
        pysyft: "import syft as sy, sy.requires(..)",
        veil: "nothing to import: `use veil::prelude::*` is preloaded in every cell",
    },
    Habit {
        name: "orchestra",
        pysyft: "sy.orchestra.launch(name=.., reset=True)",
        veil: "`Datasite::launch(name, true)?` or `%datasite launch NAME --reset`",
    },
    Habit {
        name: "node",
        pysyft: "node.login(email=.., password=..), node.client.login(..)",
        veil: "`site.login(email, password)?` or `%login EMAIL`",
    },
    Habit {
        name: "api",
        pysyft: "client.api.services.dataset / .request / .user, client.api.lib.numpy",
        veil: "`client.datasets()`, `client.requests()`, `client.users()`, `client.array(values)`; `%help api` lists every call",
    },
    Habit {
        name: "services",
        pysyft: "client.api.services",
        veil: "`%help api` lists every call your role may make",
    },
    Habit {
        name: "get_all",
        pysyft: "client.api.services.request.get_all()",
        veil: "`client.requests()?` or `%requests --all`",
    },
    Habit {
        name: "mock_data",
        pysyft: "asset.mock_data",
        veil: "`asset.mock()?`",
    },
    Habit {
        name: "get_from",
        pysyft: "pointer.get_from(client)",
        veil: "`pointer.get()?` (a pointer belongs to the client that made it)",
    },
    Habit {
        name: "approve_with_client",
        pysyft: "request.approve_with_client(client)",
        veil: "`request.approve()?` or `%approve ID`",
    },
    Habit {
        name: "SingleExecutionExactOutput",
        pysyft: "sy.SingleExecutionExactOutput()",
        veil: "`SingleExecution` (an `OutputPolicy`), or `ExecuteCount(n)`",
    },
    Habit {
        name: "syft_function",
        pysyft: "@sy.syft_function(input_policy=.., output_policy=..)",
        veil: "`veil::function! { fn f(..) -> T { .. } }` then `.input_policy(ExactMatch::new().asset(param, &asset))` and `.output_policy(SingleExecution)`",
    },
    Habit {
        name: "syft_function_single_use",
        pysyft: "@sy.syft_function_single_use(data=asset)",
        veil: "`veil::function! { .. }.input_policy(ExactMatch::new().asset(\"data\", &asset))`",
    },
];

/// The habits named in a compile error's message (rustc quotes names in backticks).
pub fn named_in(message: &str) -> Vec<&'static Habit> {
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    HABITS
        .iter()
        .filter(|h| {
            quoted
                .iter()
                .any(|q| q.split("::").any(|part| part == h.name))
        })
        .collect()
}

/// The hint a compile error gets for the habits it names, if any: one line each.
pub fn hint(message: &str) -> Option<String> {
    let found = named_in(message);
    (!found.is_empty()).then(|| {
        found
            .iter()
            .map(|h| format!("hint: PySyft's `{}` is {} in Veil", h.pysyft, h.veil))
            .chain(std::iter::once(
                "(`%help pysyft` lists PySyft's names and Veil's)".to_string(),
            ))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// The table `%help pysyft` prints.
pub fn table() -> String {
    let mut out = String::from("PySyft -> Veil\n");
    for h in HABITS {
        out.push_str(&format!("  {}\n      {}\n", h.pysyft, h.veil));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_naming_a_habit_get_its_veil_spelling() {
        let mock = hint("no field `mock_data` on type `SiteAsset`").unwrap();
        assert!(mock.contains("`asset.mock()?`"), "{mock}");
        assert!(mock.contains("%help pysyft"), "{mock}");
        let sy = hint("failed to resolve: use of unresolved module or unlinked crate `sy`");
        assert!(sy.unwrap().contains("preloaded"));
        let both = named_in("no method named `get_from` found; no field `api` on type `Client`");
        assert_eq!(both.len(), 2);
        // A name that merely contains a habit's is not it; an unrelated error gets nothing.
        assert!(hint("cannot find value `apis` in this scope").is_none());
        assert!(hint("mismatched types: expected `i32`, found `&str`").is_none());
    }

    #[test]
    fn the_readme_lists_every_habit() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        for h in HABITS {
            assert!(readme.contains(h.pysyft), "README lacks {}", h.pysyft);
        }
        assert!(table().contains("approve_with_client"));
    }
}

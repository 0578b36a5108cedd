//! The login-failure policy (SPEC §3.3) as a pure decision over join results.

use crate::domain::LoginFailurePolicy;

/// One environment's part in the decision.
#[derive(Debug, Clone, Copy)]
pub struct JoinResult {
    pub is_master: bool,
    pub required: bool,
    pub joined: bool,
}

/// `true` when the sign-in succeeds.
pub fn accepts(policy: LoginFailurePolicy, results: &[JoinResult]) -> bool {
    match policy {
        LoginFailurePolicy::Master => results.iter().all(|r| r.joined || !(r.is_master || r.required)),
        LoginFailurePolicy::All => results.iter().all(|r| r.joined),
        LoginFailurePolicy::Any => results.iter().any(|r| r.joined),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LoginFailurePolicy::*;

    fn r(is_master: bool, required: bool, joined: bool) -> JoinResult {
        JoinResult { is_master, required, joined }
    }

    #[test]
    fn the_table_of_the_specification() {
        let master_ok_slave_down = [r(true, true, true), r(false, false, false)];
        assert!(accepts(Master, &master_ok_slave_down));
        assert!(!accepts(All, &master_ok_slave_down));
        assert!(accepts(Any, &master_ok_slave_down));

        let required_slave_down = [r(true, true, true), r(false, true, false)];
        assert!(!accepts(Master, &required_slave_down));

        let master_down_slave_ok = [r(true, true, false), r(false, false, true)];
        assert!(!accepts(Master, &master_down_slave_ok));
        assert!(!accepts(All, &master_down_slave_ok));
        assert!(accepts(Any, &master_down_slave_ok));

        let nothing = [r(true, true, false), r(false, false, false)];
        assert!(!accepts(Any, &nothing));

        let everything = [r(true, true, true), r(false, true, true), r(false, false, true)];
        assert!(accepts(Master, &everything) && accepts(All, &everything) && accepts(Any, &everything));
    }
}

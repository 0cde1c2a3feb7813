//! Which ready operation goes first: the one with the longest remaining path to the end of the
//! graph (critical path first), each operation weighted by how long its type says it takes.
//!
//! With bounded parallelism, taking operations in the order they became ready lets short
//! independent work fill the slots while a long chain waits, and the run ends with the chain
//! running alone. Ranking by the remaining path (its own expected duration plus the longest
//! path of its dependents) starts the chain's head first; everything else fills the other slots.
//! Ties keep the plan's order, so a run's order is deterministic.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::plan::Action;

/// What an operation is assumed to take when its type gives no hint: a typical API call that
/// settles in a couple of seconds. Only the ratio to the hinted types matters.
pub const DEFAULT_EXPECTED: Duration = Duration::from_secs(2);

/// The weight of one node: its type's expected duration (or [`DEFAULT_EXPECTED`]), twice for a
/// replace (a delete, then a create).
pub fn weight(expected: Option<Duration>, action: Action) -> Duration {
    let one = expected.unwrap_or(DEFAULT_EXPECTED);
    match action {
        Action::Replace => one.saturating_mul(2),
        Action::Noop => Duration::ZERO,
        _ => one,
    }
}

/// How urgent a node is: a longer remaining path first, then the plan's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The longest path from this node's start to the end of the graph, its own weight included.
    pub remaining: Duration,
    /// The node's place in the plan: the tie-break.
    pub order: usize,
}

impl Priority {
    /// For work outside a plan's graph (recovery, lookups): after everything ranked.
    pub const LOWEST: Priority = Priority {
        remaining: Duration::ZERO,
        order: usize::MAX,
    };
}

impl Ord for Priority {
    /// Greater goes first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.remaining
            .cmp(&other.remaining)
            .then_with(|| other.order.cmp(&self.order))
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Each node's priority from the weights and the edges (`dependents[i]`: the nodes that wait
/// for `i`). Nodes on a cycle, which a plan never has, get their own weight.
pub fn priorities(weights: &[Duration], dependents: &[Vec<usize>]) -> Vec<Priority> {
    let n = weights.len();
    let mut remaining = weights.to_vec();
    // Sinks first: a node is final once every dependent is.
    let mut left: Vec<usize> = dependents.iter().map(Vec::len).collect();
    let mut waits_on: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in dependents.iter().enumerate() {
        for &d in ds {
            waits_on[d].push(i);
        }
    }
    let mut todo: Vec<usize> = (0..n).filter(|&i| left[i] == 0).collect();
    while let Some(i) = todo.pop() {
        for &j in &waits_on[i] {
            remaining[j] = remaining[j].max(weights[j].saturating_add(remaining[i]));
            left[j] -= 1;
            if left[j] == 0 {
                todo.push(j);
            }
        }
    }
    remaining
        .into_iter()
        .enumerate()
        .map(|(order, remaining)| Priority { remaining, order })
        .collect()
}

/// The ready queue: nodes whose dependencies are done, the most urgent first.
#[derive(Debug, Default)]
pub struct Ready {
    heap: BinaryHeap<Priority>,
}

impl Ready {
    pub fn push(&mut self, p: Priority) {
        self.heap.push(p);
    }

    /// The most urgent ready node's index.
    pub fn pop(&mut self) -> Option<usize> {
        self.heap.pop().map(|p| p.order)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The nodes in the order the queue gives them, starting from those with no dependency.
    fn ready_order(p: &[Priority], roots: &[usize]) -> Vec<usize> {
        let mut q = Ready::default();
        for &r in roots {
            q.push(p[r]);
        }
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn a_chain_starts_before_many_short_independent_nodes() {
        // Nodes 0..10 are independent; 10 -> 11 -> 12 -> 13 is a chain, declared last.
        let weights = vec![ms(100); 14];
        let mut dependents = vec![Vec::new(); 14];
        dependents[10].push(11);
        dependents[11].push(12);
        dependents[12].push(13);
        let p = priorities(&weights, &dependents);
        assert_eq!(p[10].remaining, ms(400));
        assert_eq!(p[13].remaining, ms(100));
        let roots: Vec<usize> = (0..11).collect();
        let order = ready_order(&p, &roots);
        assert_eq!(order[0], 10, "the chain's head first: {order:?}");
        assert_eq!(&order[1..], &(0..10).collect::<Vec<_>>()[..]);
    }

    #[test]
    fn weights_are_respected() {
        // 0: one slow node (a cluster); 1 -> 2 -> 3: three fast ones. The slow one is the
        // longer path although the chain has more nodes.
        let weights = vec![ms(10_000), ms(1_000), ms(1_000), ms(1_000)];
        let mut dependents = vec![Vec::new(); 4];
        dependents[1].push(2);
        dependents[2].push(3);
        let p = priorities(&weights, &dependents);
        assert_eq!(ready_order(&p, &[1, 0]), vec![0, 1]);

        // Behind a fast node, a slow one makes its path the longest.
        let weights = vec![ms(1_000), ms(1_000), ms(1_000), ms(9_000)];
        let mut dependents = vec![Vec::new(); 4];
        dependents[0].push(1);
        dependents[1].push(2);
        dependents[2].push(3);
        let mut with_fan = dependents.clone();
        with_fan.push(Vec::new()); // 4: alone, 5 s
        let mut w = weights.clone();
        w.push(ms(5_000));
        let p = priorities(&w, &with_fan);
        assert_eq!(p[0].remaining, ms(12_000));
        assert_eq!(ready_order(&p, &[4, 0]), vec![0, 4]);
    }

    #[test]
    fn the_longest_branch_counts() {
        // 0 fans out to 1 (short) and 2 -> 3 (long).
        let weights = vec![ms(1), ms(1), ms(1), ms(50)];
        let dependents = vec![vec![1, 2], vec![], vec![3], vec![]];
        let p = priorities(&weights, &dependents);
        assert_eq!(p[0].remaining, ms(52));
        assert_eq!(p[1].remaining, ms(1));
        assert_eq!(p[2].remaining, ms(51));
    }

    #[test]
    fn ties_keep_the_plan_order() {
        let weights = vec![ms(5); 6];
        let dependents = vec![Vec::new(); 6];
        let p = priorities(&weights, &dependents);
        assert_eq!(ready_order(&p, &[3, 5, 0, 4, 1, 2]), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn weights_by_action_and_default() {
        assert_eq!(weight(None, Action::Create), DEFAULT_EXPECTED);
        assert_eq!(weight(Some(ms(300)), Action::Delete), ms(300));
        assert_eq!(weight(Some(ms(300)), Action::Replace), ms(600));
    }

    #[test]
    fn a_cycle_does_not_hang() {
        let weights = vec![ms(1), ms(2)];
        let dependents = vec![vec![1], vec![0]];
        let p = priorities(&weights, &dependents);
        assert_eq!(p[0].remaining, ms(1));
        assert_eq!(p[1].remaining, ms(2));
    }

    #[test]
    fn lowest_goes_after_everything() {
        let p = Priority {
            remaining: Duration::ZERO,
            order: 7,
        };
        assert!(p > Priority::LOWEST);
    }
}

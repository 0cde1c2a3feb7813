//! The dependency graph of a template's resources and data sources.
//!
//! A `${a.b}` reference or a `depends_on` entry is an edge from `a` to the resource that needs it.
//! The graph gives a deterministic topological order (ties broken by the order of declaration,
//! so plans read like the template) and reports every cycle with each resource on it. The
//! destroy order is the reverse of the same graph.

use std::collections::{BTreeSet, HashMap};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::base::diagnostic::{Diagnostic, Diagnostics};
use crate::base::source::Span;

/// A node: `data.<name>` for a data source, the address for a resource.
#[derive(Debug, Clone)]
pub struct GraphNode {
    pub key: String,
    /// Where it is declared, for cycle reports.
    pub span: Span,
}

/// Why an edge exists, for cycle reports.
#[derive(Debug, Clone, Copy)]
pub struct GraphEdge {
    pub span: Span,
}

/// Dependencies among resources and data sources; edges point from a dependency to its dependent.
#[derive(Debug, Default)]
pub struct Graph {
    pub inner: DiGraph<GraphNode, GraphEdge>,
    index: HashMap<String, NodeIndex>,
}

impl Graph {
    pub fn add_node(&mut self, key: &str, span: Span) -> NodeIndex {
        if let Some(i) = self.index.get(key) {
            return *i;
        }
        let i = self.inner.add_node(GraphNode {
            key: key.to_owned(),
            span,
        });
        self.index.insert(key.to_owned(), i);
        i
    }

    /// Records that `dependent` needs `dependency`. Unknown keys are ignored (checked elsewhere);
    /// repeated edges are kept once.
    pub fn add_edge(&mut self, dependency: &str, dependent: &str, span: Span) {
        if let (Some(&a), Some(&b)) = (self.index.get(dependency), self.index.get(dependent))
            && self.inner.find_edge(a, b).is_none()
        {
            self.inner.add_edge(a, b, GraphEdge { span });
        }
    }

    pub fn node(&self, key: &str) -> Option<NodeIndex> {
        self.index.get(key).copied()
    }

    /// Direct dependencies of `key`, sorted.
    pub fn dependencies(&self, key: &str) -> Vec<String> {
        let Some(i) = self.node(key) else {
            return Vec::new();
        };
        let mut deps: Vec<String> = self
            .inner
            .neighbors_directed(i, petgraph::Direction::Incoming)
            .map(|n| self.inner[n].key.clone())
            .collect();
        deps.sort();
        deps
    }

    /// Every cycle, as the keys on it in edge order, each with the span of the edge into the next.
    pub fn cycles(&self) -> Vec<Vec<(String, Span, Span)>> {
        let mut cycles = Vec::new();
        for scc in tarjan_scc(&self.inner) {
            let self_loop = scc.len() == 1 && self.inner.find_edge(scc[0], scc[0]).is_some();
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
            // Walk from the first declared member, always to the first declared member not yet seen,
            // until the walk comes back: that is one cycle through the component.
            let start = *members.iter().next().unwrap_or(&scc[0]);
            let mut path = vec![start];
            let mut current = start;
            loop {
                let mut next: Vec<NodeIndex> = self
                    .inner
                    .neighbors(current)
                    .filter(|n| members.contains(n))
                    .collect();
                next.sort();
                let step = next
                    .iter()
                    .find(|n| !path.contains(n))
                    .or_else(|| next.iter().find(|n| **n == start))
                    .or(next.first());
                let Some(&step) = step else { break };
                if step == start || path.contains(&step) {
                    // Close the loop at `step`; drop anything before it.
                    if let Some(pos) = path.iter().position(|p| *p == step) {
                        path.drain(..pos);
                    }
                    break;
                }
                path.push(step);
                current = step;
            }
            let cycle = path
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let next = path[(i + 1) % path.len()];
                    let edge = self
                        .inner
                        .find_edge(*n, next)
                        .map_or(self.inner[*n].span, |e| self.inner[e].span);
                    (self.inner[*n].key.clone(), self.inner[*n].span, edge)
                })
                .collect();
            cycles.push(cycle);
        }
        cycles.sort();
        cycles
    }

    /// Topological order, ties broken by node insertion order. Call only on an acyclic graph
    /// (check [`Graph::cycles`] first); nodes on a cycle are left out.
    pub fn topological_order(&self) -> Vec<String> {
        let mut indegree: Vec<usize> = self
            .inner
            .node_indices()
            .map(|n| {
                self.inner
                    .neighbors_directed(n, petgraph::Direction::Incoming)
                    .count()
            })
            .collect();
        let mut ready: BTreeSet<NodeIndex> = self
            .inner
            .node_indices()
            .filter(|n| indegree[n.index()] == 0)
            .collect();
        let mut order = Vec::with_capacity(self.inner.node_count());
        while let Some(n) = ready.pop_first() {
            order.push(self.inner[n].key.clone());
            for m in self.inner.neighbors(n) {
                indegree[m.index()] -= 1;
                if indegree[m.index()] == 0 {
                    ready.insert(m);
                }
            }
        }
        order
    }

    /// A diagnostic per cycle, naming every resource on it.
    pub fn cycle_diagnostics(
        &self,
        locate: impl Fn(Span) -> crate::base::source::Located,
    ) -> Diagnostics {
        let mut diags = Diagnostics::default();
        for cycle in self.cycles() {
            let names: Vec<&str> = cycle.iter().map(|(k, _, _)| k.as_str()).collect();
            let mut ring = names.join(" -> ");
            ring.push_str(" -> ");
            ring.push_str(names[0]);
            let mut d = Diagnostic::new("template::cycle", format!("dependency cycle: {ring}"))
                .at(locate(cycle[0].1))
                .label(format!("`{}` is on the cycle", names[0]))
                .help(
                    "break the cycle: one of these resources must not refer to the next \
                 (remove a reference or a `depends_on` entry)",
                );
            for (i, (key, _, edge)) in cycle.iter().enumerate() {
                let next = names[(i + 1) % names.len()];
                d = d.related(locate(*edge), format!("`{next}` needs `{key}` here"));
            }
            diags.push(d);
        }
        diags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(nodes: &[&str], edges: &[(&str, &str)]) -> Graph {
        let mut g = Graph::default();
        for n in nodes {
            g.add_node(n, Span::default());
        }
        for (a, b) in edges {
            g.add_edge(a, b, Span::default());
        }
        g
    }

    #[test]
    fn order_follows_dependencies_then_declaration() {
        let g = graph(&["c", "a", "b"], &[("b", "c"), ("a", "c")]);
        assert_eq!(g.topological_order(), ["a", "b", "c"]);
        assert_eq!(g.dependencies("c"), ["a", "b"]);
        assert!(g.cycles().is_empty());
    }

    #[test]
    fn cycles_name_every_member_in_edge_order() {
        let g = graph(
            &["a", "b", "c", "d"],
            &[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")],
        );
        let cycles = g.cycles();
        let keys: Vec<Vec<&str>> = cycles
            .iter()
            .map(|c| c.iter().map(|(k, _, _)| k.as_str()).collect())
            .collect();
        assert_eq!(keys, [["a", "b", "c"]]);
        assert_eq!(g.topological_order(), Vec::<String>::new());
    }

    #[test]
    fn a_self_reference_is_a_cycle() {
        let g = graph(&["a"], &[("a", "a")]);
        assert_eq!(g.cycles().len(), 1);
    }
}

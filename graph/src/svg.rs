//! SVG pictures of task graphs, laid out in pure Rust by `layout-rs` (no Graphviz).
//!
//! Small graphs are drawn task by task: one box per task, labelled by its key and filled
//! with its group's colour ([`group_colour`]), and an arrow from each dependency to its
//! dependent. A graph of more than [`SVG_TASK_LIMIT`] tasks would be an unreadable
//! picture that takes long to lay out (the layered layout grows about cubically: two
//! ranks of 500 tasks take 6 s in a debug build, of 1,000 tasks 50 s), so it is drawn at
//! the level of task groups (one box per group with its task count, an arrow where tasks
//! of one group read another's), and a note at the top of the picture says so. Of more
//! than [`SVG_TASK_LIMIT`] groups, the largest are drawn.

use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::style::StyleAttr;
use layout::std_shapes::render::get_shape_size;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::dot::group_colour;
use crate::key::Group;
use crate::task_graph::TaskGraph;

/// The largest graph [`to_svg`] draws task by task; bigger ones are drawn by task group.
pub const SVG_TASK_LIMIT: usize = 500;

const FONT_SIZE: usize = 14;

/// The graph as an SVG document: every task when it has at most [`SVG_TASK_LIMIT`]
/// tasks, else its task groups (with a note saying so). Each task's box is in a
/// `<g class="task" data-group="…">` element, each group's in `<g class="group" …>`.
///
/// ```
/// use std::sync::Arc;
/// use rask_graph::{ops, to_svg, Arg, Group, Key, Op, TaskGraph, Token, Value};
/// let inc: Arc<dyn Op> = Arc::new(ops::Inc);
/// let mut b = TaskGraph::builder();
/// let a = b.add(Key::single(Group::new("inc"), Token(1)), &inc, [Arg::Value(Value::I64(1))]).unwrap();
/// b.add(Key::single(Group::new("inc"), Token(2)), &inc, [Arg::Task(a)]).unwrap();
/// let svg = to_svg(&b.build().unwrap());
/// assert!(svg.contains("<svg"));
/// assert_eq!(svg.matches("class=\"task\"").count(), 2);
/// ```
pub fn to_svg(graph: &TaskGraph) -> String {
    if graph.len() <= SVG_TASK_LIMIT { task_svg(graph) } else { group_svg(graph) }
}

/// One box of a picture.
struct Node {
    label: String,
    fill: &'static str,
    class: &'static str,
    group: Group,
}

fn task_svg(graph: &TaskGraph) -> String {
    let nodes: Vec<Node> = graph
        .ids()
        .map(|t| {
            let key = graph.key(t);
            Node { label: key.to_string(), fill: group_colour(key.group()), class: "task", group: key.group() }
        })
        .collect();
    let mut edges = Vec::new();
    for t in graph.ids() {
        let mut seen = FxHashSet::default();
        for d in graph.dependencies(t) {
            if seen.insert(d) {
                edges.push((d.index(), t.index()));
            }
        }
    }
    let note = graph.is_empty().then(|| "empty graph: no tasks".to_string());
    render(&nodes, &edges, note)
}

fn group_svg(graph: &TaskGraph) -> String {
    let mut index: FxHashMap<Group, usize> = FxHashMap::default();
    let mut groups: Vec<(Group, usize)> = Vec::new();
    let mut group_of = Vec::with_capacity(graph.len());
    for t in graph.ids() {
        let g = graph.key(t).group();
        let i = *index.entry(g).or_insert_with(|| {
            groups.push((g, 0));
            groups.len() - 1
        });
        groups[i].1 += 1;
        group_of.push(i);
    }
    let mut edges = Vec::new();
    let mut seen = FxHashSet::default();
    for t in graph.ids() {
        let to = group_of[t.index()];
        for d in graph.dependencies(t) {
            let from = group_of[d.index()];
            if from != to && seen.insert((from, to)) {
                edges.push((from, to));
            }
        }
    }
    let shown = largest(&groups, SVG_TASK_LIMIT);
    let edges: Vec<(usize, usize)> = edges.into_iter().filter_map(|(a, b)| Some((shown[a]?, shown[b]?))).collect();
    let kept: Vec<&(Group, usize)> = groups.iter().zip(&shown).filter(|(_, s)| s.is_some()).map(|(g, _)| g).collect();
    let nodes: Vec<Node> = kept
        .iter()
        .map(|&&(g, n)| Node {
            label: format!("{}\n{} task{}", g.as_str(), n, if n == 1 { "" } else { "s" }),
            fill: group_colour(g),
            class: "group",
            group: g,
        })
        .collect();
    let mut note = format!(
        "{} tasks (more than {SVG_TASK_LIMIT}): drawn as {} task groups, not task by task",
        graph.len(),
        groups.len()
    );
    if kept.len() < groups.len() {
        note.push_str(&format!("\nthe {} largest groups are shown", kept.len()));
    }
    render(&nodes, &edges, Some(note))
}

/// For each group, its position among the `limit` groups with the most tasks (in the
/// original order), or `None` if it is not among them.
fn largest(groups: &[(Group, usize)], limit: usize) -> Vec<Option<usize>> {
    let mut by_size: Vec<usize> = (0..groups.len()).collect();
    by_size.sort_by_key(|&i| std::cmp::Reverse(groups[i].1));
    let mut keep = vec![false; groups.len()];
    by_size.iter().take(limit).for_each(|&i| keep[i] = true);
    let mut next = 0;
    keep.iter()
        .map(|&k| {
            k.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// Lays out `nodes` and `edges` (indices into `nodes`, dependency first), with `note` in
/// a box of its own above them.
fn render(nodes: &[Node], edges: &[(usize, usize)], note: Option<String>) -> String {
    let dir = Orientation::TopToBottom;
    let mut vg = VisualGraph::new(dir);
    if let Some(note) = note {
        let shape = ShapeKind::new_box(&note);
        let look = StyleAttr::new(Color::fast("white"), 0, Some(Color::fast("white")), 0, FONT_SIZE);
        let size = get_shape_size(dir, &shape, FONT_SIZE, false);
        vg.add_node(Element::create_with_properties(shape, look, dir, size, "class=\"note\""));
    }
    let handles: Vec<_> = nodes
        .iter()
        .map(|n| {
            let shape = ShapeKind::new_box(&n.label);
            let look = StyleAttr::new(Color::fast("black"), 1, Color::from_name(n.fill), 5, FONT_SIZE);
            let size = get_shape_size(dir, &shape, FONT_SIZE, false);
            let properties = format!("class=\"{}\" data-group=\"{}\"", n.class, escape_attribute(n.group.as_str()));
            vg.add_node(Element::create_with_properties(shape, look, dir, size, properties))
        })
        .collect();
    for &(from, to) in edges {
        vg.add_edge(Arrow::simple(""), handles[from], handles[to]);
    }
    let mut svg = SVGWriter::new();
    vg.do_it(false, false, false, &mut svg);
    svg.finalize()
}

/// `s` with the characters XML attributes cannot hold raw replaced by entities.
fn escape_attribute(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::task_graph::Arg;
    use crate::{Key, Op, Token, Value, ops};

    /// `width` independent chains `load -> inc -> ... ` of `depth` tasks, summed at the end.
    fn chains(width: u32, depth: u32) -> TaskGraph {
        let inc: Arc<dyn Op> = Arc::new(ops::Inc);
        let sum: Arc<dyn Op> = Arc::new(ops::Sum);
        let mut b = TaskGraph::builder();
        let mut tips = Vec::new();
        for i in 0..width {
            let mut prev =
                b.add(Key::new(Group::new("load"), Token(0), &[i]), &inc, [Arg::Value(Value::I64(0))]).unwrap();
            for d in 1..depth {
                prev = b.add(Key::new(Group::new("inc"), Token(d as u64), &[i]), &inc, [Arg::Task(prev)]).unwrap();
            }
            tips.push(Arg::Task(prev));
        }
        b.add(Key::single(Group::new("sum"), Token(99)), &sum, tips).unwrap();
        b.build().unwrap()
    }

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{svg}"))
    }

    fn boxes<'a>(doc: &'a roxmltree::Document<'a>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
        doc.descendants().filter(|n| n.attribute("class") == Some(class)).collect()
    }

    #[test]
    fn small_graphs_get_one_box_per_task_in_its_group_colour() {
        let graph = chains(4, 2);
        let svg = to_svg(&graph);
        let doc = parse(&svg);
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let tasks = boxes(&doc, "task");
        assert_eq!(tasks.len(), 9);
        for g in ["load", "inc", "sum"] {
            let colour = format!("{}ff", group_colour(Group::new(g)));
            let of_group: Vec<_> = tasks.iter().filter(|n| n.attribute("data-group") == Some(g)).collect();
            assert_eq!(of_group.len(), if g == "sum" { 1 } else { 4 });
            for n in of_group {
                let rect = n.descendants().find(|c| c.has_tag_name("rect")).unwrap();
                assert_eq!(rect.attribute("fill"), Some(colour.as_str()));
            }
        }
        for t in graph.ids() {
            let label = graph.key(t).to_string();
            assert!(doc.descendants().any(|n| n.text() == Some(label.as_str())), "no label {label}");
        }
        assert!(boxes(&doc, "group").is_empty());
        assert!(boxes(&doc, "note").is_empty());
    }

    #[test]
    fn big_graphs_are_drawn_by_task_group_with_a_note() {
        let graph = chains(200, 3);
        assert!(graph.len() > SVG_TASK_LIMIT);
        let svg = to_svg(&graph);
        let doc = parse(&svg);
        assert!(boxes(&doc, "task").is_empty());
        let groups = boxes(&doc, "group");
        let names: Vec<_> = groups.iter().filter_map(|n| n.attribute("data-group")).collect();
        assert_eq!(names, ["load", "inc", "sum"]);
        assert!(svg.contains("400 tasks"), "inc's count is shown");
        assert_eq!(boxes(&doc, "note").len(), 1);
        assert!(svg.contains("601 tasks (more than 500): drawn as 3 task groups"));
    }

    #[test]
    fn of_too_many_groups_the_largest_are_drawn() {
        let inc: Arc<dyn Op> = Arc::new(ops::Inc);
        let mut b = TaskGraph::builder();
        for i in 0..(SVG_TASK_LIMIT as u64 + 10) {
            b.add(Key::single(Group::new(&format!("g{i}")), Token(i)), &inc, [Arg::Value(Value::I64(0))]).unwrap();
        }
        let big = Group::new("g3");
        for i in 0..5 {
            b.add(Key::new(big, Token(1_000), &[i]), &inc, [Arg::Value(Value::I64(0))]).unwrap();
        }
        let svg = to_svg(&b.build().unwrap());
        let doc = parse(&svg);
        let groups = boxes(&doc, "group");
        assert_eq!(groups.len(), SVG_TASK_LIMIT);
        assert!(groups.iter().any(|n| n.attribute("data-group") == Some("g3")));
        assert!(svg.contains("the 500 largest groups are shown"));
    }

    #[test]
    fn the_empty_graph_is_a_picture_that_says_so() {
        let graph = TaskGraph::builder().build().unwrap();
        let svg = to_svg(&graph);
        parse(&svg);
        assert!(svg.contains("empty graph"));
    }

    #[test]
    fn odd_characters_in_group_names_stay_well_formed() {
        let inc: Arc<dyn Op> = Arc::new(ops::Inc);
        let mut b = TaskGraph::builder();
        let g = Group::new("a<&>\"'b");
        let a = b.add(Key::single(g, Token(1)), &inc, [Arg::Value(Value::I64(1))]).unwrap();
        b.add(Key::single(g, Token(2)), &inc, [Arg::Task(a), Arg::Task(a)]).unwrap();
        let svg = to_svg(&b.build().unwrap());
        let doc = parse(&svg);
        let tasks = boxes(&doc, "task");
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].attribute("data-group"), Some("a<&>\"'b"));
    }
}

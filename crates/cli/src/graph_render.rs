//! A small directed graph drawn as Graphviz DOT text or as SVG with a layered layout
//! computed here (no Graphviz needed).
//!
//! The SVG layout: back edges of a depth-first search are set aside so the rest is
//! acyclic; each node's layer is its longest path from a source; layers run left to
//! right, and nodes within a layer are ordered by the mean position of their callers
//! (one sweep), ties by insertion order. Edges are cubic curves from the right side of
//! the caller to the left side of the callee; set-aside edges are drawn the same way.

use std::fmt::Write;

/// One node: label lines (the first is the title) and whether it is highlighted.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    /// Lines of the label, first line the title.
    pub label: Vec<String>,
    /// Drawn in the highlight colour (the common path, say).
    pub highlighted: bool,
}

/// One edge between node indices, with a label.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphEdge {
    /// Index of the calling node.
    pub from: usize,
    /// Index of the called node.
    pub to: usize,
    /// Short text drawn beside the edge.
    pub label: String,
    /// Drawn in the highlight colour.
    pub highlighted: bool,
}

/// A graph to draw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    /// Shown as the DOT graph's label and the SVG's title.
    pub title: String,
    /// The nodes.
    pub nodes: Vec<GraphNode>,
    /// The edges; ones naming a missing node are not drawn.
    pub edges: Vec<GraphEdge>,
}

const HIGHLIGHT: &str = "#d62728";
const CHARACTER_WIDTH: f64 = 7.2;
const LINE_HEIGHT: f64 = 16.0;
const PADDING: f64 = 8.0;
const LAYER_GAP: f64 = 90.0;
const ROW_GAP: f64 = 24.0;
const MARGIN: f64 = 20.0;

/// The graph as DOT, laid out left to right.
pub fn to_dot(graph: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph weft {{");
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  label=\"{}\";", dot_escape(&graph.title));
    let _ = writeln!(out, "  node [shape=box, fontname=\"Helvetica\"];");
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=10];");
    for (index, node) in graph.nodes.iter().enumerate() {
        let label = node
            .label
            .iter()
            .map(|line| dot_escape(line))
            .collect::<Vec<_>>()
            .join("\\n");
        let style = if node.highlighted {
            format!(", color=\"{HIGHLIGHT}\", penwidth=2")
        } else {
            String::new()
        };
        let _ = writeln!(out, "  n{index} [label=\"{label}\"{style}];");
    }
    for edge in drawable_edges(graph) {
        let style = if edge.highlighted {
            format!(", color=\"{HIGHLIGHT}\", penwidth=2")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  n{} -> n{} [label=\"{}\"{style}];",
            edge.from,
            edge.to,
            dot_escape(&edge.label)
        );
    }
    out.push_str("}\n");
    out
}

fn drawable_edges(graph: &Graph) -> impl Iterator<Item = &GraphEdge> {
    let count = graph.nodes.len();
    graph
        .edges
        .iter()
        .filter(move |edge| edge.from < count && edge.to < count)
}

fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            other => out.push(other),
        }
    }
    out
}

/// Each node's layer: longest path from a source over the edges that are not back edges
/// of a depth-first search (iterative, so deep graphs are fine).
pub(crate) fn layers(graph: &Graph) -> Vec<usize> {
    let count = graph.nodes.len();
    let mut successors = vec![Vec::new(); count];
    for edge in drawable_edges(graph) {
        successors[edge.from].push(edge.to);
    }
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state = vec![0u8; count];
    let mut forward: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut finished = Vec::with_capacity(count);
    for start in 0..count {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            if let Some(&to) = successors[node].get(*next) {
                *next += 1;
                match state[to] {
                    0 => {
                        forward[node].push(to);
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    2 => forward[node].push(to),
                    _ => {} // a back edge: left out of the layering
                }
            } else {
                state[node] = 2;
                finished.push(node);
                stack.pop();
            }
        }
    }
    // Reverse finishing order is a topological order of the forward edges.
    let mut layer = vec![0usize; count];
    for &node in finished.iter().rev() {
        for &to in &forward[node] {
            layer[to] = layer[to].max(layer[node] + 1);
        }
    }
    layer
}

/// The graph as a standalone SVG document.
pub fn to_svg(graph: &Graph) -> String {
    let count = graph.nodes.len();
    let layer = layers(graph);
    let layer_count = layer.iter().max().map_or(0, |&last| last + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layer_count];
    for (node, &at) in layer.iter().enumerate() {
        rows[at].push(node);
    }
    // Order each layer by the mean row of its callers in earlier layers.
    let mut row_of = vec![0f64; count];
    for row in &mut rows {
        let mut keyed: Vec<(f64, usize)> = row
            .iter()
            .map(|&node| {
                let callers: Vec<f64> = drawable_edges(graph)
                    .filter(|edge| edge.to == node && layer[edge.from] < layer[node])
                    .map(|edge| row_of[edge.from])
                    .collect();
                let key = if callers.is_empty() {
                    f64::MAX
                } else {
                    callers.iter().sum::<f64>() / callers.len() as f64
                };
                (key, node)
            })
            .collect();
        keyed.sort_by(|left, right| left.0.total_cmp(&right.0).then(left.1.cmp(&right.1)));
        *row = keyed.into_iter().map(|(_, node)| node).collect();
        for (index, &node) in row.iter().enumerate() {
            row_of[node] = index as f64;
        }
    }
    let size = |node: usize| -> (f64, f64) {
        let label = &graph.nodes[node].label;
        let longest = label
            .iter()
            .map(|line| line.chars().count())
            .max()
            .unwrap_or(1);
        (
            longest as f64 * CHARACTER_WIDTH + 2.0 * PADDING,
            label.len().max(1) as f64 * LINE_HEIGHT + PADDING,
        )
    };
    // Room between layers for the longest edge label (10px text).
    let longest_edge_label = drawable_edges(graph)
        .map(|edge| edge.label.chars().count())
        .max()
        .unwrap_or(0);
    let layer_gap = LAYER_GAP.max(longest_edge_label as f64 * 6.0 + 30.0);
    let mut position = vec![(0f64, 0f64, 0f64, 0f64); count];
    let mut x = MARGIN;
    let mut height = 0f64;
    for row in &rows {
        let width = row.iter().map(|&node| size(node).0).fold(0f64, f64::max);
        let mut y = MARGIN + LINE_HEIGHT;
        for &node in row {
            let (node_width, node_height) = size(node);
            position[node] = (x, y, node_width, node_height);
            y += node_height + ROW_GAP;
        }
        height = height.max(y);
        x += width + layer_gap;
    }
    let width = (x - layer_gap + MARGIN).max(2.0 * MARGIN);
    let height = height.max(2.0 * MARGIN) + MARGIN;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(out, "<title>{}</title>", xml_escape(&graph.title));
    for (id, colour) in [("arrow", "#555"), ("arrow-hl", HIGHLIGHT)] {
        let _ = writeln!(
            out,
            "<defs><marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{colour}\"/></marker></defs>"
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{MARGIN}\" y=\"{:.0}\" font-weight=\"bold\">{}</text>",
        MARGIN,
        xml_escape(&graph.title)
    );
    for edge in drawable_edges(graph) {
        let (from_x, from_y, from_width, from_height) = position[edge.from];
        let (to_x, to_y, _, to_height) = position[edge.to];
        let (start_x, start_y) = (from_x + from_width, from_y + from_height / 2.0);
        let (end_x, end_y) = (to_x, to_y + to_height / 2.0);
        let bend = ((end_x - start_x).abs() / 2.0).max(40.0);
        let (colour, marker, stroke) = if edge.highlighted {
            (HIGHLIGHT, "arrow-hl", 2.5)
        } else {
            ("#555", "arrow", 1.2)
        };
        let _ = writeln!(
            out,
            "<path class=\"edge\" d=\"M{start_x:.1},{start_y:.1} C{:.1},{start_y:.1} {:.1},{end_y:.1} {end_x:.1},{end_y:.1}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{stroke}\" marker-end=\"url(#{marker})\"/>",
            start_x + bend,
            end_x - bend
        );
        if !edge.label.is_empty() {
            let _ = writeln!(
                out,
                "<text class=\"edge-label\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"{colour}\">{}</text>",
                (start_x + end_x) / 2.0,
                (start_y + end_y) / 2.0 - 4.0,
                xml_escape(&edge.label)
            );
        }
    }
    for (node, &(x, y, node_width, node_height)) in graph.nodes.iter().zip(&position) {
        let (stroke, stroke_width) = if node.highlighted {
            (HIGHLIGHT, 2.5)
        } else {
            ("#333", 1.0)
        };
        let _ = writeln!(
            out,
            "<g class=\"node\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{node_width:.1}\" height=\"{node_height:.1}\" rx=\"4\" fill=\"#fff\" stroke=\"{stroke}\" stroke-width=\"{stroke_width}\"/>"
        );
        for (line_index, line) in node.label.iter().enumerate() {
            let weight = if line_index == 0 {
                " font-weight=\"bold\""
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\"{weight}>{}</text>",
                x + PADDING,
                y + PADDING / 2.0 + LINE_HEIGHT * (line_index as f64 + 0.8),
                xml_escape(line)
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(usize, usize)], nodes: usize) -> Graph {
        Graph {
            title: String::from("t \"q\" <x>"),
            nodes: (0..nodes)
                .map(|index| GraphNode {
                    label: vec![format!("n{index}"), String::from("a & b")],
                    highlighted: index == 0,
                })
                .collect(),
            edges: edges
                .iter()
                .map(|&(from, to)| GraphEdge {
                    from,
                    to,
                    label: String::from("3 calls"),
                    highlighted: false,
                })
                .collect(),
        }
    }

    #[test]
    fn layers_are_longest_paths_and_cycles_terminate() {
        // 0 -> 1 -> 2, 0 -> 2, 2 -> 0 (a cycle), 3 alone.
        let layered = layers(&graph(&[(0, 1), (1, 2), (0, 2), (2, 0)], 4));
        assert_eq!(layered, [0, 1, 2, 0]);
        let chain: Vec<(usize, usize)> = (0..50_000).map(|node| (node, node + 1)).collect();
        assert_eq!(layers(&graph(&chain, 50_001))[50_000], 50_000);
    }

    #[test]
    fn dot_escapes_labels_and_marks_highlights() {
        let dot = to_dot(&graph(&[(0, 1), (1, 7)], 2));
        assert!(dot.starts_with("digraph weft {\n  rankdir=LR;\n"), "{dot}");
        assert!(dot.contains("label=\"t \\\"q\\\" <x>\""), "{dot}");
        assert!(dot.contains("n0 [label=\"n0\\na & b\", color=\"#d62728\", penwidth=2];"));
        assert!(dot.contains("n0 -> n1 [label=\"3 calls\"];"), "{dot}");
        assert!(!dot.contains("n7"), "edges to missing nodes are not drawn");
    }

    #[test]
    fn svg_is_well_formed_with_one_box_per_node_and_one_curve_per_edge() {
        let svg = to_svg(&graph(&[(0, 1), (0, 2), (1, 2)], 3));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect ").count(), 3);
        assert_eq!(svg.matches("class=\"edge\"").count(), 3);
        assert!(
            svg.contains("a &amp; b") && svg.contains("&lt;x&gt;"),
            "{svg}"
        );
        assert!(!svg.contains("a & b"), "raw ampersands break XML");
        // Node 2 is two layers right of node 0.
        let x_of = |name: &str| -> f64 {
            let at = svg.find(&format!(">{name}<")).expect("label");
            let text_start = svg[..at].rfind("<text x=\"").expect("text") + 9;
            let end = svg[text_start..].find('"').expect("quote") + text_start;
            svg[text_start..end].parse().expect("x")
        };
        assert!(x_of("n0") < x_of("n1") && x_of("n1") < x_of("n2"), "{svg}");
    }
}

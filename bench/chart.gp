# bench/chart.gp — the two charts of docs/benchmarks.md; bench/report.mjs runs it as
#   gnuplot -e "sweep='W1.dat'; nseries=N; ceil='CEIL.dat'; ncols=M; limit=100; out1='a.png'; out2='b.png'; sub='…'" bench/chart.gp
# sweep: one block per server × transport (blocks separated by two blank lines), each starting with a
#        quoted title line, then "delivered_per_s p99_ms" rows. nseries = number of blocks;
#        colors and dashes: one word per block (line colour, dash type 1 solid / 2 dashed).
# ceil:  header "server" + one column per transport + one label column per transport, then one row
#        per server (ceiling msgs/s, 0 when none; the label printed above the bar).

set encoding utf8
set terminal pngcairo size 1100,650 enhanced font 'sans,11' linewidth 1.5
set grid

if (nseries > 0) {
    set output out1
    set title sprintf("W1 sweep: p99 latency vs delivered messages/s (%s)", sub)
    set xlabel 'delivered messages/s'
    set ylabel 'p99 latency (ms, log scale)'
    set logscale xy
    set format x '%.0s%c'
    set key outside right top
    set arrow 1 from graph 0, first limit to graph 1, first limit nohead dashtype 2 linecolor rgb '#aa0000'
    set label 1 sprintf('p99 limit %g ms', limit) at graph 0.01, first limit offset 0, 0.6 textcolor rgb '#aa0000'
    plot for [i=0:nseries-1] sweep index i using 1:2 with linespoints pointtype 7 pointsize 0.8 \
         linecolor rgb word(colors, i + 1) dashtype int(word(dashes, i + 1)) title columnheader(1)
    unset arrow 1
    unset label 1
    unset logscale
    unset format
}

if (ncols > 0) {
    set output out2
    set title sprintf("W1 ceiling: highest delivered messages/s with p99 ≤ %g ms (%s)", limit, sub)
    set xlabel ''
    set ylabel 'delivered messages/s'
    set format y '%.0s%c'
    set yrange [0:*]
    set style data histograms
    set style histogram clustered gap 1
    set style fill solid 0.85 border -1
    set boxwidth 0.9
    set key outside right top
    set offsets 0, 0, graph 0.08, 0
    set key autotitle columnheader   # the header line is not a data row: $0 counts from the first server
    # clustered bars: series k (0-based) of group i is centred at i + (k - (ncols-1)/2) / (ncols + gap)
    plot for [c=2:ncols+1] ceil using c:xtic(1) linecolor rgb word(barcolors, c - 1) title columnheader(c), \
         for [c=2:ncols+1] ceil using ($0 + (c - 2 - (ncols - 1) / 2.0) / (ncols + 1.0)):c:(stringcolumn(c + ncols)) \
             with labels offset 0, 0.8 font ',10' notitle
}

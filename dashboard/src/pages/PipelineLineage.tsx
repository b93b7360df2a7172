// The Lineage tab of a pipeline: fetched when the tab opens, refreshed with the pipeline.
import { useQuery } from "@tanstack/react-query";

import { api, call } from "../api/client";
import { LineageGraph } from "../components/LineageGraph";
import { Card, Empty, Loaded } from "../components/ui";

export function PipelineLineage({
  pipelineId,
  onChoose,
}: {
  pipelineId: string;
  onChoose: (stageName: string) => void;
}) {
  // Under ["pipeline", id], so the live updates that refetch the pipeline refetch this too.
  const lineage = useQuery({
    queryKey: ["pipeline", pipelineId, "lineage"],
    queryFn: () =>
      call(() =>
        api.GET("/api/pipelines/{pipeline_id}/lineage", {
          params: { path: { pipeline_id: pipelineId } },
        }),
      ),
  });
  return (
    <Loaded query={lineage} what="the lineage" rows={3}>
      {(graph) =>
        graph.stages.length ? (
          <Card>
            <p className="mb-2 text-sm text-muted">
              The datasets each stage read and wrote, at the versions it used. Hover a dataset for its URI.
            </p>
            <LineageGraph lineage={graph} onChoose={onChoose} />
          </Card>
        ) : (
          <Empty>
            No stage has reported datasets yet. The dataset templates do; any handler can, with a{" "}
            <code>lineage</code> object in its output.
          </Empty>
        )
      }
    </Loaded>
  );
}

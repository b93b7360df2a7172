// The files a pipeline's jobs attached to their results. A download asks the API for a
// short-lived signed link and follows it; the link works without a session until it expires.
import { useMutation, useQuery } from "@tanstack/react-query";

import { api, call } from "../api/client";
import { buttonClass, Empty, ErrorText, Loaded, Table } from "../components/ui";
import { bytes } from "../format";
import { Time } from "../status";

export function PipelineArtifacts({ pipelineId }: { pipelineId: string }) {
  const artifacts = useQuery({
    queryKey: ["pipeline", pipelineId, "artifacts"],
    queryFn: () =>
      call(() =>
        api.GET("/api/pipelines/{pipeline_id}/artifacts", { params: { path: { pipeline_id: pipelineId } } }),
      ),
  });
  const download = useMutation({
    mutationFn: (artifactId: string) =>
      call(() =>
        api.POST("/api/artifacts/{artifact_id}/link", { params: { path: { artifact_id: artifactId } } }),
      ),
    onSuccess: ({ url }) => {
      window.location.assign(url);
    },
  });
  return (
    <>
      <ErrorText error={download.error} className="mb-2" />
      <Loaded query={artifacts} what="the artifacts">
        {(items) =>
          items.length === 0 ? (
            <Empty>No files. A handler attaches files to its result with ctx.attach(name, data).</Empty>
          ) : (
            <Table
              columns={[
                "File",
                "Stage",
                "Attempt",
                "Type",
                "Size",
                "Attached",
                { label: "Actions", hidden: true },
              ]}
              minWidth="48rem"
            >
              <tbody>
                {items.map((artifact) => (
                  <tr
                    key={artifact.id}
                    data-artifact={artifact.name}
                    className="border-b border-slate-100 dark:border-slate-800"
                  >
                    <td className="py-2 font-medium break-all">{artifact.name}</td>
                    <td>{artifact.stageName}</td>
                    <td>{artifact.attempt}</td>
                    <td className="font-mono text-xs">{artifact.contentType}</td>
                    <td>{bytes(artifact.size)}</td>
                    <td className="text-xs">
                      <Time at={artifact.createdAt} />
                    </td>
                    <td className="text-right">
                      <button
                        className={buttonClass("default", true)}
                        disabled={download.isPending}
                        onClick={() => download.mutate(artifact.id)}
                        aria-label={`Download ${artifact.name}`}
                      >
                        Download
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
    </>
  );
}

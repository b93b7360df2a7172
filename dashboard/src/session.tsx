// Who is logged in: the session lives in HttpOnly cookies, so the page only asks /api/auth/me.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, call, Problem, type Schemas } from "./api/client";

export type User = Schemas["UserView"];

export function useMe() {
  return useQuery({
    queryKey: ["me"],
    queryFn: async (): Promise<User | null> => {
      try {
        return await call(() => api.GET("/api/auth/me"));
      } catch (error) {
        if (error instanceof Problem && error.status === 401) return null;
        throw error;
      }
    },
    staleTime: 60_000,
    retry: false,
  });
}

export function useLogin() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { email: string; password: string }) =>
      call(() => api.POST("/api/auth/login", { body })),
    onSuccess: (session) => client.setQueryData(["me"], session.user),
  });
}

export function useLogout() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => call(() => api.POST("/api/auth/logout")),
    onSettled: () => {
      client.clear();
      client.setQueryData(["me"], null);
    },
  });
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// kindView is what `get` and `describe` need to know of one kind of
// object (Backup, Restore); the commands themselves are shared: read,
// -o json|yaml as it is, else the kind's table or description.
type kindView[T any, P interface {
	*T
	client.Object
}] struct {
	kind  string // "backup": in messages
	title string // "Backup": in help texts
	// list reads every object of the kind in a namespace.
	list func(ctx context.Context, c client.Client, namespace string) ([]T, error)
	// table prints the objects `get` lists.
	table func(out io.Writer, items []T) error
	// describe prints one object; details is --details.
	describe func(ctx context.Context, out io.Writer, obj P, details bool) error
}

// listed is a kindView's list: the items of a list type L read in a
// namespace.
func listed[T, L any, PL interface {
	*L
	client.ObjectList
}](items func(*L) []T) func(context.Context, client.Client, string) ([]T, error) {
	return func(ctx context.Context, c client.Client, namespace string) ([]T, error) {
		l := PL(new(L))
		if err := c.List(ctx, l, client.InNamespace(namespace)); err != nil {
			return nil, err
		}
		return items(l), nil
	}
}

// get prints what `get [NAME]` lists.
func (v kindView[T, P]) get(ctx context.Context, c client.Client, namespace string, args []string, output string, out io.Writer) error {
	items, err := v.list(ctx, c, namespace)
	if err != nil {
		return err
	}
	if items, err = newestFirst[T, P](items, v.kind, namespace, args); err != nil {
		return err
	}
	if output != "" {
		return printObject(out, output, items)
	}
	return v.table(out, items)
}

// show prints what `describe NAME` shows.
func (v kindView[T, P]) show(ctx context.Context, c client.Client, namespace, name, output string, details bool, out io.Writer) error {
	obj := P(new(T))
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj); err != nil {
		return fmt.Errorf("%s %s/%s: %w", v.kind, namespace, name, err)
	}
	if output != "" {
		return printObject(out, output, obj)
	}
	return v.describe(ctx, out, obj, details)
}

func (v kindView[T, P]) getCommand(kf *kubeFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get [NAME]",
		Short: "List " + v.title + "s",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := kf.client()
			if err != nil {
				return err
			}
			return v.get(cmd.Context(), c, kf.namespace, args, output, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml")
	return cmd
}

// describeCommand is `describe NAME`; the caller adds flags of its own.
func (v kindView[T, P]) describeCommand(kf *kubeFlags, short, long, detailsHelp string) *cobra.Command {
	var (
		output  string
		details bool
	)
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := kf.client()
			if err != nil {
				return err
			}
			return v.show(cmd.Context(), c, kf.namespace, args[0], output, details, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml")
	cmd.Flags().BoolVar(&details, "details", false, detailsHelp)
	return cmd
}

// newestFirst is what `get [NAME]` lists: the item named NAME (an error
// naming it when there is none), or all of them, newest first.
func newestFirst[T any, P interface {
	*T
	metav1.Object
}](items []T, kind, namespace string, args []string) ([]T, error) {
	out := items
	if len(args) == 1 {
		out = nil
		for i := range items {
			if P(&items[i]).GetName() == args[0] {
				out = append(out, items[i])
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s %s/%s not found", kind, namespace, args[0])
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return P(&out[i]).GetCreationTimestamp().After(P(&out[j]).GetCreationTimestamp().Time)
	})
	return out, nil
}

// printObject is -o json|yaml: the objects as they are, exact values.
func printObject(out io.Writer, format string, v any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		data, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = out.Write(data)
		return err
	}
	return fmt.Errorf("-o %q: use json or yaml", format)
}
